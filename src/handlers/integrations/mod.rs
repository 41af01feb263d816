//! Integrations (SPEC §3, §14): Stripe and database credentials go into the vault the moment
//! they arrive; responses, errors, logs and audit entries only ever carry the non-secret view.
//! `stripe.rs` and `database.rs` hold each integration's routes; this file what they share.

pub mod database;
pub mod stripe;

use crate::audit::retrying_in;
use crate::auth::extract::InProject;
use crate::auth::principal::{Principal, ProjectScope};
use crate::http::json;
use crate::repo::{self, credentials::CredentialRow};
use crate::services::Services;
use axum::response::Response;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::domain::append::Step;
use parityrail_core::domain::audit::{Action, Draft};
use parityrail_core::domain::integrations::IntegrationError;
use parityrail_core::rows::credentials::{database_view, stripe_view};
use serde_json::{json, Value};

/// One integration's credential kinds, its audit action and its non-secret view.
pub struct Integration {
    kinds: [&'static str; 2],
    action: Action,
    view: fn(&[CredentialRow]) -> Value,
}

pub const STRIPE: Integration = Integration {
    kinds: ["stripe_api_key", "stripe_webhook_secret"],
    action: Action::IntegrationStripeUpdated,
    view: stripe_view,
};
pub const DATABASE: Integration = Integration {
    kinds: ["db_read_url", "db_repair_url"],
    action: Action::IntegrationDatabaseUpdated,
    view: database_view,
};

pub fn integration_error(e: IntegrationError, field: &str) -> ApiError {
    e.input_error(field).into()
}

/// Replaces the project's credentials of the integration's kinds (except those in `keep`,
/// which stay as stored) with `rows` in one batch, recording `action` with the views `view`
/// picks. Both views are built from the credentials read after the chain head, so they are
/// exact, and kept rows are never read outside the commit that keeps them.
pub async fn replace(
    svc: &Services,
    p: &Principal,
    project: &ProjectScope,
    integration: &Integration,
    rows: Vec<CredentialRow>,
    keep: &[&str],
) -> ApiResult<Value> {
    let (pid, pr) = (project.id().as_str(), project.handle());
    let Integration {
        kinds,
        action,
        view,
    } = integration;
    let replaced: Vec<&str> = kinds
        .iter()
        .copied()
        .filter(|k| !keep.contains(k))
        .collect();
    let after = retrying_in(p, project, svc.now, || async {
        // Deleted meanwhile (its deletion appends to this chain too): not found, not a 500.
        repo::projects::get(&p.tenant, pid, p.environment.as_str())
            .await?
            .ok_or_else(|| ApiError::not_found("project"))?;
        let current = repo::credentials::for_project(pr).await?;
        let before = view(&current);
        let mut all = rows.clone();
        all.extend(
            current
                .into_iter()
                .filter(|r| keep.contains(&r.kind.as_str())),
        );
        let after = view(&all);
        let draft = Draft::new(
            p.actor(),
            *action,
            format!("project:{pid}"),
            before,
            after.clone(),
        );
        let mut changes = repo::credentials::delete_kinds(pr, &replaced)?;
        for r in &rows {
            changes.push(repo::credentials::insert(pr, r)?);
        }
        Ok(Step::commit(vec![draft], changes, after))
    })
    .await?;
    // Webhook checks that waited for this integration may succeed now.
    repo::webhooks::due_now(pr, svc.now).await?;
    Ok(after)
}

/// GET /v1/projects/{pid}/integrations — non-secret identifiers only.
#[worker::send]
pub async fn get(ip: InProject) -> ApiResult<Response> {
    let rows = repo::credentials::for_project(ip.project.handle()).await?;
    json(
        200,
        &json!({"stripe": stripe_view(&rows), "database": database_view(&rows)}),
    )
}
