//! Reconcile at the edge: reading one customer from Stripe and the app, diffing (the pure
//! `domain::reconcile`), and applying the incident plan (`domain::incidents`) to D1 with an audit
//! entry per change and a snapshot per opened incident, all in one batch on the project chain.
//! Used by `POST …/customers/{cus}/check` now, and by runs and webhooks as they land.

use super::audit::By;
use super::auth::scope::ProjectHandle;
use super::project_io;
use super::repo;
use super::services::Services;
use crate::api::error::{database_error, ApiError, ApiResult};
use crate::domain::apikey::Environment;
use crate::domain::append::Step;
use crate::domain::audit::Draft;
use crate::domain::ids::{IncidentId, SnapshotId};
use crate::domain::incidents::{self, Incident};
use crate::domain::mapping::Mapping;
use crate::domain::reconcile::{self, ItemFacts, ProductFeatures, StripeCustomer, SubFacts};
use crate::stripe::model::Subscription;
use crate::stripe::StripeError;
use serde_json::{json, Value};

/// The project's mapping; `409 mapping_missing` without one.
pub async fn mapping(pr: &ProjectHandle) -> ApiResult<Mapping> {
    repo::mappings::get(pr)
        .await?
        .map(|(m, _)| m)
        .ok_or_else(|| ApiError::conflict("mapping_missing", "configure the mapping first"))
}

/// What the diff needs of a Stripe subscription.
pub fn facts(s: &Subscription) -> SubFacts {
    SubFacts {
        id: s.id.clone(),
        status: s.status.clone(),
        items: s
            .items
            .data
            .iter()
            .map(|i| ItemFacts {
                price: i.price_id().map(str::to_owned),
                product: i.product_id().map(str::to_owned),
            })
            .collect(),
    }
}

/// Checks one customer now: re-reads it (subscriptions and, when entitlements are mapped, its
/// active entitlements) from Stripe and its row from the app over the read connection, then
/// opens, updates and resolves its incidents. Returns the customer's open and ignored incidents
/// after the check.
pub async fn check_customer(
    ctx: &Services,
    by: By<'_>,
    env: Environment,
    customer: &str,
) -> ApiResult<Vec<Incident>> {
    let pr = by.project();
    let m = mapping(pr).await?;
    let client = project_io::stripe(ctx, pr).await?;
    let stripe_side = match client.customer(customer).await.map_err(ApiError::from)? {
        None => None,
        Some(_) => {
            let subs = client
                .subscriptions_of(customer)
                .await
                .map_err(ApiError::from)?;
            let active_entitlements = if m.entitlements.is_empty() {
                None
            } else {
                match client.active_entitlements(customer).await {
                    Ok(list) => Some(list.into_iter().map(|e| e.lookup_key).collect()),
                    // A Stripe API without the Entitlements endpoint (localstripe): none known.
                    Err(StripeError::Client(404)) => None,
                    Err(e) => return Err(e.into()),
                }
            };
            Some(StripeCustomer {
                subscriptions: subs.iter().map(facts).collect(),
                active_entitlements,
            })
        }
    };
    let session = project_io::read_session(ctx, pr, env)
        .await?
        .map_err(db_error)?;
    let columns: Vec<_> = m
        .columns()
        .into_iter()
        .skip(1)
        .map(|(c, _)| c.clone())
        .collect();
    let rows = session
        .rows_by_keys(
            &m.table,
            &m.customer_column,
            &columns,
            &[customer.to_owned()],
        )
        .await
        .map_err(db_error)?;
    let app_values = rows.into_iter().next().map(|r| r.values);
    let expected = stripe_side
        .as_ref()
        .map(|s| reconcile::expected(&m, s, &ProductFeatures::new()));
    let actual = app_values.as_ref().map(|v| reconcile::actual(&m, v));
    let drifts = reconcile::diff(&m, customer, expected.as_ref(), actual.as_ref());
    let snapshot = Snapshot {
        stripe: json!(stripe_side),
        app: json!(app_values),
    };
    apply(ctx, by, customer, &drifts, &snapshot).await?;
    repo::incidents::live_for_customer(pr, customer).await
}

/// The states a check decided on, kept with each incident it opens.
pub struct Snapshot {
    pub stripe: Value,
    pub app: Value,
}

pub fn db_error(e: crate::pg::PgError) -> ApiError {
    let (code, message) = database_error(e.kind);
    let mut err = ApiError::new(502, code, message);
    err.detail = Some(format!("{:?} {:?}", e.kind, e.sqlstate));
    err
}

/// Applies the plan for one customer's drifts under the project chain: the customer's open and
/// ignored incidents are read after the chain head, so a concurrent ignore or check makes this
/// run again from fresh state (an ignore is never lost or undone).
pub async fn apply(
    ctx: &Services,
    by: By<'_>,
    customer: &str,
    drifts: &[reconcile::Drift],
    snapshot: &Snapshot,
) -> ApiResult<Vec<incidents::Change>> {
    let (now, pr, actor) = (ctx.now, by.project(), by.actor());
    by.retrying(now, || async {
        let existing = repo::incidents::live_for_customer(pr, customer).await?;
        let mut ids = Vec::new();
        for _ in drifts {
            ids.push(IncidentId::generate(&mut ctx.rng())?.to_string());
        }
        let mut fresh = ids.into_iter();
        let changes = incidents::plan(&existing, drifts, now, || fresh.next().unwrap_or_default());
        if changes.is_empty() {
            return Ok(Step::Done(changes));
        }
        let mut drafts = Vec::new();
        let mut stmts = Vec::new();
        for c in &changes {
            let after = c.after();
            drafts.push(Draft::new(
                actor.clone(),
                c.action(),
                format!("incident:{}", after.id),
                c.before().map_or(Value::Null, view),
                view(after),
            ));
            match c.before() {
                None => {
                    stmts.push(repo::incidents::insert(pr, after)?);
                    let sid = SnapshotId::generate(&mut ctx.rng())?.to_string();
                    stmts.push(repo::incidents::snapshot(
                        pr,
                        &sid,
                        after,
                        &snapshot.stripe,
                        &snapshot.app,
                    )?);
                }
                Some(before) => stmts.push(repo::incidents::update(pr, before, after)?),
            }
        }
        Ok(Step::commit(drafts, stmts, changes))
    })
    .await
}

/// The API and audit view of an incident (SPEC §15 fields).
pub fn view(i: &Incident) -> Value {
    json!(i)
}
