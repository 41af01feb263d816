//! Integrations (SPEC §3, §14): Stripe and database credentials go into the vault the moment
//! they arrive; responses, errors, logs and audit entries only ever carry the non-secret view.
//! `stripe.rs` and `database.rs` hold each integration's routes; this file what they share.

pub mod database;
pub mod stripe;

use crate::domain::audit::Draft;
use crate::domain::integrations::IntegrationError;
use crate::domain::roles::Need;
use crate::domain::vault::Secret;
use crate::edge::audit::{commit, retrying, Chain};
use crate::edge::auth::{Principal, ProjectScope};
use crate::edge::error::{ApiError, ApiResult};
use crate::edge::http::{json, Ctx};
use crate::edge::repo::{self, credentials::CredentialRow};
use crate::edge::vault;
use serde_json::{json, Value};
use worker::Response;

/// One integration's credential kinds, its audit action and its non-secret view.
pub struct Integration {
    kinds: [&'static str; 2],
    action: &'static str,
    view: fn(&[CredentialRow]) -> Value,
}

pub const STRIPE: Integration = Integration {
    kinds: ["stripe_api_key", "stripe_webhook_secret"],
    action: "integration.stripe.updated",
    view: stripe_view,
};
pub const DATABASE: Integration = Integration {
    kinds: ["db_read_url", "db_repair_url"],
    action: "integration.database.updated",
    view: database_view,
};

pub fn integration_error(e: IntegrationError, field: &str) -> ApiError {
    let field = if e.field() == "url" { field } else { e.field() };
    ApiError::bad_field(field, e.to_string())
}

fn public(row: &CredentialRow) -> Value {
    serde_json::from_str(&row.public).unwrap_or(Value::Null)
}

/// The non-secret view of a project's Stripe integration (`null` when not configured).
fn stripe_view(rows: &[CredentialRow]) -> Value {
    rows.iter()
        .find(|r| r.kind == "stripe_api_key")
        .map_or(Value::Null, |r| {
            let mut v = public(r);
            v["webhook_secrets"] = json!(rows
                .iter()
                .filter(|r| r.kind == "stripe_webhook_secret")
                .count());
            v["updated_at"] = json!(r.created_at);
            v
        })
}

/// The non-secret view of a project's database integration (`null` when not configured).
fn database_view(rows: &[CredentialRow]) -> Value {
    let find = |kind: &str| rows.iter().find(|r| r.kind == kind);
    find("db_read_url").map_or(Value::Null, |r| {
        json!({"read": public(r), "repair": find("db_repair_url").map(public), "updated_at": r.created_at})
    })
}

/// Replaces the project's credentials of `kinds` with `rows` in one batch, recording `action`
/// with the views `view` picks (the `before` read after the chain head, so it is exact).
pub async fn replace(
    ctx: &Ctx,
    p: &Principal,
    pid: &str,
    integration: &Integration,
    rows: Vec<CredentialRow>,
) -> ApiResult<Value> {
    let Integration {
        kinds,
        action,
        view,
    } = integration;
    let after = view(&rows);
    retrying(&p.tenant, Chain::Project(pid), |head| async {
        let before = view(&current(p, pid).await?);
        let draft = Draft::new(
            p.actor(),
            action,
            format!("project:{pid}"),
            before,
            after.clone(),
        );
        let mut changes = repo::credentials::delete_kinds(&p.tenant, pid, kinds.as_slice())?;
        for r in &rows {
            changes.push(repo::credentials::insert(&p.tenant, r)?);
        }
        commit(
            &p.tenant,
            Chain::Project(pid),
            head,
            vec![draft],
            changes,
            ctx.now,
        )
        .await
    })
    .await?;
    Ok(after)
}

async fn current(p: &Principal, pid: &str) -> ApiResult<Vec<CredentialRow>> {
    repo::credentials::for_project(&p.tenant, pid).await
}

pub async fn admin_scope(p: &Principal, pid: &str) -> ApiResult<ProjectScope> {
    let scope = p.project(pid).await?;
    p.require_in(&scope, Need::Admin)?;
    Ok(scope)
}

/// GET /v1/projects/{pid}/integrations — non-secret identifiers only.
pub async fn get(p: Principal, pid: &str) -> ApiResult<Response> {
    let scope = p.project(pid).await?;
    p.require_in(&scope, Need::Read)?;
    let rows = current(&p, pid).await?;
    json(
        200,
        &json!({"stripe": stripe_view(&rows), "database": database_view(&rows)}),
    )
}

/// Opens the project's credential of `kind`; `409 integration_missing` when there is none.
pub async fn open_credential(
    ctx: &Ctx,
    p: &Principal,
    pid: &str,
    kind: &str,
    what: &str,
) -> ApiResult<Secret> {
    let rows = current(p, pid).await?;
    let row = rows.iter().find(|r| r.kind == kind).ok_or_else(|| {
        ApiError::conflict(
            "integration_missing",
            format!("configure the {what} integration first"),
        )
    })?;
    vault::open(&vault::keyring(ctx)?, &p.tenant, row)
}
