//! Repairs (SPEC §8, §15): list (`status`, `customer`, `incident` filters) and get, with the
//! statements each runs; approve (through the project's coordinator, which executes and
//! verifies it and answers with the final repair); reject with a reason.

use super::{customer_filter, PageQuery};
use crate::audit::By;
use crate::auth::extract::InProject;
use crate::coordinator::client;
use crate::http::{json, page, App, PathId, Query, RawBody};
use crate::repairs::{reject as reject_repair, view};
use crate::repo::{self, repairs::Filter};
use axum::extract::State;
use axum::response::Response;
use parityrail_core::api::bodies::Reject;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::domain::ids::{IncidentId, RepairId};
use parityrail_core::domain::input;
use parityrail_core::domain::repairs::RepairStatus;

/// GET /v1/projects/{pid}/repairs — `?status=`, `?customer=`, `?incident=`, `limit`, `cursor`.
#[worker::send]
pub async fn list(ip: InProject, q: Query) -> ApiResult<Response> {
    let pq = PageQuery::of(q.raw())?;
    let filter = Filter {
        status: q
            .get("status")
            .map(|s| {
                RepairStatus::parse(&s)
                    .ok_or_else(|| ApiError::bad_field("status", "not a repair status"))
            })
            .transpose()?,
        customer: customer_filter(q.raw())?,
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
    let (svc, pr) = (&app.svc, ip.project.handle());
    // Another tenant's, or no such repair: the same 404, before the coordinator is involved.
    repo::repairs::get(pr, rid.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("repair"))?;
    let env = ip.project.row.environment;
    let seal = ip.p.seal(&ip.project);
    let answer = client::approve(svc, pr, env, &rid, seal).await;
    // Its `repair.*` events go out now, whichever way the approval ended.
    crate::hooks::wake(svc, pr).await;
    json(200, &answer?)
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
    parityrail_core::domain::repairs::person_reason(&reason)?;
    let by = By::Caller(&ip.p, &ip.project);
    let r = reject_repair(&app.svc, by, rid, &reason).await?;
    crate::hooks::wake(&app.svc, ip.project.handle()).await;
    let m = repo::mappings::get(ip.project.handle())
        .await?
        .map(|(m, _)| m);
    json(200, &view(&r, m.as_ref()))
}
