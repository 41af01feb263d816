//! One customer (SPEC §6, §9): check it now.

use crate::api::error::{ApiError, ApiResult};
use crate::domain::apikey::Environment;
use crate::domain::reconcile::is_customer_id;
use crate::edge::audit::By;
use crate::edge::auth::extract::InProject;
use crate::edge::auth::probe_limit;
use crate::edge::http::{json, App, Params};
use crate::edge::reconcile::{check_customer, view};
use axum::extract::State;
use axum::response::Response;
use serde_json::json;

/// POST /v1/projects/{pid}/customers/{cus}/check — re-reads the customer from Stripe and the
/// app now, updates its incidents, and returns its open and ignored incidents.
#[worker::send]
pub async fn check(State(app): State<App>, ip: InProject, params: Params) -> ApiResult<Response> {
    let (ctx, p, scope) = (&app.svc, &ip.p, &ip.project);
    let customer = params.get("cus")?;
    if !is_customer_id(customer) {
        return Err(ApiError::not_found("customer"));
    }
    let env = Environment::parse(&scope.row.environment)
        .ok_or_else(|| ApiError::internal("bad environment"))?;
    // A check connects to the customer's database and Stripe: limited like the connection
    // tests, so it serves neither as a port scanner nor as a drain on the Stripe quota.
    probe_limit(ctx, scope).await?;
    p.recheck(Some(scope), ctx.now).await?;
    let incidents = check_customer(ctx, By::Caller(p, scope), env, customer).await?;
    json(
        200,
        &json!({"customer": customer, "incidents": incidents.iter().map(view).collect::<Vec<_>>()}),
    )
}
