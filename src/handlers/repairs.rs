//! Repairs (SPEC §8, §15): list (`status`, `customer`, `incident` filters) and get, with the
//! statements each runs; approve (through the project's coordinator, which executes and
//! verifies it and answers with the final repair); reject with a reason.

use super::{customer_filter, PageQuery};
use crate::audit::By;
use crate::auth::extract::InProject;
use crate::clock::within;
use crate::error::OrInternal;
use crate::http::{json, page, App, PathId, Query, RawBody};
use crate::repairs::{reject as reject_repair, view, Approval};
use crate::repo::{self, repairs::Filter};
use axum::extract::State;
use axum::response::Response;
use parityrail_core::api::error::{ApiError, ApiResult, Relayed};
use parityrail_core::domain::ids::{IncidentId, RepairId};
use parityrail_core::domain::input;
use parityrail_core::domain::repairs::RepairStatus;
use parityrail_core::fault::Fault;
use serde::Deserialize;

/// How long `approve` waits for the coordinator's answer: longer than an approval's own limits
/// on the database and Stripe, after which the coordinator's recovery finishes it.
const APPROVAL_ANSWER_MS: u64 = 150_000;

/// GET /v1/projects/{pid}/repairs — `?status=`, `?customer=`, `?incident=`, `limit`, `cursor`.
#[worker::send]
pub async fn list(ip: InProject, q: Query) -> ApiResult<Response> {
    let pq = PageQuery::from(&q)?;
    let filter = Filter {
        status: q
            .get("status")
            .map(|s| {
                RepairStatus::parse(&s)
                    .ok_or_else(|| ApiError::bad_field("status", "not a repair status"))
            })
            .transpose()?,
        customer: customer_filter(&q)?,
        incident: q
            .get("incident")
            .map(|i| {
                IncidentId::parse(&i)
                    .map(|_| i)
                    .map_err(|_| ApiError::bad_field("incident", "not an incident id"))
            })
            .transpose()?,
        effect: None,
    };
    let pr = ip.project.handle();
    let rows = repo::repairs::list(
        pr,
        &filter,
        pq.cursor.as_deref().unwrap_or(""),
        pq.fetch_limit(),
    )
    .await?;
    let m = repo::mappings::get(pr).await?.map(|(m, _)| m);
    let (rows, next) = pq.finish(rows, |r| r.id.clone());
    page(rows.iter().map(|r| view(r, m.as_ref())).collect(), next)
}

/// GET /v1/projects/{pid}/repairs/{rid}
#[worker::send]
pub async fn get(ip: InProject, PathId(rid): PathId<RepairId>) -> ApiResult<Response> {
    let pr = ip.project.handle();
    let r = repo::repairs::get(pr, rid.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("repair"))?;
    let m = repo::mappings::get(pr).await?.map(|(m, _)| m);
    json(200, &view(&r, m.as_ref()))
}

/// POST /v1/projects/{pid}/repairs/{rid}/approve — executes and verifies the repair through
/// the project's coordinator; `200` with the final repair (`verified`, `unverified`, `stale` or
/// `failed`), `409 repair_not_pending` when it is not pending (or another approval of it is
/// running).
#[worker::send]
pub async fn approve(
    State(app): State<App>,
    ip: InProject,
    PathId(rid): PathId<RepairId>,
) -> ApiResult<Response> {
    let (ctx, pr) = (&app.svc, ip.project.handle());
    let rid = rid.as_str();
    // Another tenant's, or no such repair: the same 404, before the coordinator is involved.
    repo::repairs::get(pr, rid)
        .await?
        .ok_or_else(|| ApiError::not_found("repair"))?;
    let approval = Approval {
        org: pr.tenant().org_id().to_string(),
        project: pr.as_str().to_owned(),
        repair: rid.to_owned(),
        environment: ip.project.row.environment,
        caller: Some(ip.p.seal(&ip.project)),
    };
    let body = serde_json::to_string(&approval).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post)
        .with_body(Some(body.into()));
    let req = worker::Request::new_with_init("https://coordinator/repairs/approve", &init)
        .or_internal()?;
    // An approval waits on the database and Stripe, each with its own limits; past this the
    // answer is a 503 and the approval finishes (or is recovered) in the coordinator.
    let stub = ctx.coordinator(pr.as_str())?;
    let mut res = within(APPROVAL_ANSWER_MS, stub.fetch_with_request(req))
        .await
        .ok_or_else(|| {
            ApiError::from(Fault::CoordinatorUnavailable(
                "the coordinator did not answer the approval in time".into(),
            ))
        })?
        .or_internal()?;
    let status = res.status_code();
    let value: serde_json::Value = res.json().await.or_internal()?;
    if status == 200 {
        return json(200, &value);
    }
    match serde_json::from_value::<Relayed>(value) {
        Ok(relayed) => Err(relayed.into()),
        Err(e) => Err(ApiError::internal(format!(
            "coordinator answered {status}: {e}"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reject {
    reason: String,
}

/// POST /v1/projects/{pid}/repairs/{rid}/reject — `{reason}`; only a pending repair.
#[worker::send]
pub async fn reject(
    State(app): State<App>,
    ip: InProject,
    PathId(rid): PathId<RepairId>,
    body: RawBody,
) -> ApiResult<Response> {
    let rid = rid.as_str();
    let body: Reject = body.json()?;
    let reason = input::reason("reason", &body.reason)?;
    let by = By::Caller(&ip.p, &ip.project);
    let r = reject_repair(&app.svc, by, rid, &reason).await?;
    let m = repo::mappings::get(ip.project.handle())
        .await?
        .map(|(m, _)| m);
    json(200, &view(&r, m.as_ref()))
}
