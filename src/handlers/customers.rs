//! One customer (SPEC §6, §9): check it now; read its access ledger.

use crate::audit::By;
use crate::auth::extract::InProject;
use crate::auth::limits::probe_limit;
use crate::coordinator::client::wake_repairs;
use crate::http::{json, App, PathId, Query};
use crate::reconcile::{check_customer, view};
use crate::repo;
use axum::extract::State;
use axum::response::Response;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::api::path::CustomerId;
use parityrail_core::domain::input;
use serde_json::json;

/// POST /v1/projects/{pid}/customers/{cus}/check — re-reads the customer from Stripe and the
/// app now, updates its incidents, and returns its open and ignored incidents.
#[worker::send]
pub async fn check(
    State(app): State<App>,
    ip: InProject,
    PathId(customer): PathId<CustomerId>,
) -> ApiResult<Response> {
    let (svc, p, scope) = (&app.svc, &ip.p, &ip.project);
    let customer = customer.as_str();
    let env = scope.row.environment;
    // A check connects to the customer's database and Stripe: limited like the connection
    // tests, so it serves neither as a port scanner nor as a drain on the Stripe quota.
    probe_limit(svc, scope.handle()).await?;
    p.recheck(Some(scope), svc.now).await?;
    let incidents = check_customer(svc, By::Caller(p, scope), env, customer).await?;
    crate::hooks::wake(svc, scope.handle()).await;
    // Grants it suggested are approved by the project's coordinator at once, when the project
    // says so. The check itself stands either way; the next check or run wakes it again.
    if scope.row.auto_approve_grants {
        if let Err(e) = wake_repairs(svc, scope.handle()).await {
            worker::console_error!(
                "{}",
                json!({"auto_approve": "wake", "error": e.code(), "detail": e.detail()})
            );
        }
    }
    json(
        200,
        &json!({"customer": customer, "incidents": incidents.iter().map(view).collect::<Vec<_>>()}),
    )
}

/// GET /v1/projects/{pid}/customers/{cus}/ledger — from the project's audit log alone, in chain
/// order: the customer's incidents opened, updated, resolved and ignored, and its repairs with
/// their before/after rows and verification, each with its `seq` and `hash` to check against
/// the chain (`…/audit/verify`). `limit`, `cursor` (a `seq`). A customer the project has no
/// record of is `404`, like one of another tenant.
#[worker::send]
pub async fn ledger(
    ip: InProject,
    PathId(customer): PathId<CustomerId>,
    q: Query,
) -> ApiResult<Response> {
    let customer = customer.as_str();
    let limit = input::limit(q.get("limit").as_deref())?;
    let after_seq = match q.get("cursor").as_deref() {
        None | Some("") => 0,
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|n| i64::try_from(*n).is_ok())
            .ok_or_else(|| ApiError::bad_field("cursor", "not a cursor this API returned"))?,
    };
    let chain = format!("project:{}", ip.project.id());
    let mut rows =
        repo::audit::page_for_customer(&ip.p.tenant, &chain, customer, after_seq, limit + 1)
            .await?;
    if rows.is_empty() && after_seq == 0 {
        return Err(ApiError::not_found("customer"));
    }
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|e| e.seq.to_string())
    } else {
        None
    };
    json(
        200,
        &json!({"customer": customer, "data": rows, "next_cursor": next}),
    )
}
