//! Full reconcile runs (SPEC §6, §15): start one (handed to the project's coordinator), list
//! them newest first, get one as it grows.

use super::PageQuery;
use crate::audit::By;
use crate::auth::extract::InProject;
use crate::auth::limits::probe_limit;
use crate::http::{json, page, App, PathId, Query};
use crate::repo;
use crate::runs::{start, view};
use axum::extract::State;
use axum::response::Response;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::domain::ids::RunId;
use parityrail_core::domain::records::RunTrigger;

/// POST /v1/projects/{pid}/runs — `202` with the run (`running`); `409 run_in_progress` with
/// the running run's `run_id` while one is going.
#[worker::send]
pub async fn create(State(app): State<App>, ip: InProject) -> ApiResult<Response> {
    // A run connects to Stripe and the app database: limited like the connection tests.
    probe_limit(&app.svc, ip.project.handle()).await?;
    let by = By::Caller(&ip.p, &ip.project);
    let run = start(&app.svc, by, RunTrigger::Api).await?;
    json(202, &view(&run))
}

/// GET /v1/projects/{pid}/runs — newest first; `limit`, `cursor`.
#[worker::send]
pub async fn list(ip: InProject, q: Query) -> ApiResult<Response> {
    let pq = PageQuery::of(q.raw())?;
    let pr = ip.project.handle();
    let before = match pq.cursor.as_deref() {
        None => None,
        Some(c) => {
            let (run, _) = repo::runs::get(pr, c)
                .await?
                .ok_or_else(|| ApiError::bad_field("cursor", "not a cursor this API returned"))?;
            Some((run.started_at.to_rfc3339(), run.id))
        }
    };
    let before = before.as_ref().map(|(at, id)| (at.as_str(), id.as_str()));
    let rows = repo::runs::list(pr, before, pq.fetch_limit()).await?;
    let (rows, next) = pq.finish(rows, |r| r.id.clone());
    page(rows.iter().map(view).collect(), next)
}

/// GET /v1/projects/{pid}/runs/{rid}
#[worker::send]
pub async fn get(ip: InProject, PathId(id): PathId<RunId>) -> ApiResult<Response> {
    let (run, _) = repo::runs::get(ip.project.handle(), id.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    json(200, &view(&run))
}
