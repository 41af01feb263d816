//! Incidents (SPEC §6, §15): list with `status`, `kind` and `customer` filters; get one (with
//! the snapshots it was decided on); ignore one with a reason (audited).

use super::{customer_filter, PageQuery};
use crate::audit::retrying_in;
use crate::auth::extract::InProject;
use crate::http::{json, page, App, PathId, Query, RawBody};
use crate::reconcile::view;
use crate::repo::{self, incidents::Filter};
use axum::extract::State;
use axum::response::Response;
use parityrail_core::api::bodies::Ignore;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::domain::append::Step;
use parityrail_core::domain::audit::{Action, Draft};
use parityrail_core::domain::ids::IncidentId;
use parityrail_core::domain::incidents::{self, IncidentStatus};
use parityrail_core::domain::input;
use parityrail_core::domain::reconcile::IncidentKind;
use parityrail_core::domain::repairs::{self, RepairChange, RepairStatus};
use serde_json::json;

/// GET /v1/projects/{pid}/incidents — `?status=`, `?kind=`, `?customer=`, `limit`, `cursor`.
#[worker::send]
pub async fn list(ip: InProject, q: Query) -> ApiResult<Response> {
    let pq = PageQuery::of(q.raw())?;
    let filter = Filter {
        status: q
            .get("status")
            .map(|s| {
                IncidentStatus::parse(&s).ok_or_else(|| {
                    ApiError::bad_field("status", "must be open, resolved or ignored")
                })
            })
            .transpose()?,
        kind: q
            .get("kind")
            .map(|s| {
                IncidentKind::parse(&s)
                    .ok_or_else(|| ApiError::bad_field("kind", "not an incident kind"))
            })
            .transpose()?,
        customer: customer_filter(q.raw())?,
    };
    let rows = repo::incidents::list(
        ip.project.handle(),
        &filter,
        pq.cursor.as_deref().unwrap_or(""),
        pq.fetch_limit(),
    )
    .await?;
    let (rows, next) = pq.finish(rows, |i| i.id.clone());
    page(rows.iter().map(view).collect(), next)
}

/// GET /v1/projects/{pid}/incidents/{iid}
#[worker::send]
pub async fn get(ip: InProject, PathId(id): PathId<IncidentId>) -> ApiResult<Response> {
    let pr = ip.project.handle();
    let id = id.as_str();
    let i = repo::incidents::get(pr, id)
        .await?
        .ok_or_else(|| ApiError::not_found("incident"))?;
    let snapshots: Vec<_> = repo::incidents::snapshots_of(pr, id)
        .await?
        .into_iter()
        .map(|s| {
            json!({
                "stripe": serde_json::from_str::<serde_json::Value>(&s.stripe).unwrap_or_default(),
                "app": serde_json::from_str::<serde_json::Value>(&s.app).unwrap_or_default(),
                "taken_at": s.taken_at,
            })
        })
        .collect();
    let mut v = view(&i);
    v["snapshots"] = json!(snapshots);
    json(200, &v)
}

/// POST /v1/projects/{pid}/incidents/{iid}/ignore — `{reason}`; only an open incident.
#[worker::send]
pub async fn ignore(
    State(app): State<App>,
    ip: InProject,
    PathId(id): PathId<IncidentId>,
    body: RawBody,
) -> ApiResult<Response> {
    let (svc, p, pr) = (&app.svc, &ip.p, ip.project.handle());
    let id = id.as_str();
    let body: Ignore = body.json()?;
    let reason = input::reason("reason", &body.reason)?;
    let now = svc.now;
    let after = retrying_in(p, &ip.project, now, || async {
        let before = repo::incidents::get(pr, id)
            .await?
            .ok_or_else(|| ApiError::not_found("incident"))?;
        let after = incidents::ignore(&before, &reason, now).ok_or_else(|| {
            ApiError::conflict("incident_not_open", "only an open incident can be ignored")
        })?;
        let draft = Draft::new(
            p.actor(),
            Action::IncidentIgnored,
            format!("incident:{id}"),
            view(&before),
            view(&after),
        );
        let mut drafts = vec![draft];
        let mut stmts = vec![repo::incidents::update(pr, &before, &after)?];
        // Its pending repair is withdrawn in the same batch: nobody approves a fix for a drift
        // a person decided to accept.
        if let Some(rid) = &before.repair_id {
            let pending = repo::repairs::get(pr, rid)
                .await?
                .filter(|r| r.status == RepairStatus::Pending);
            if let Some(r) = pending {
                let w = repairs::withdrawn(&r, repairs::WITHDRAWN_IGNORED, now);
                if let RepairChange::Withdrawn { before, after } = &w {
                    stmts.extend(repo::repairs::transition(pr, before, after)?);
                    drafts.push(Draft::new(
                        p.actor(),
                        w.action(),
                        format!("repair:{rid}"),
                        json!(before),
                        json!(after),
                    ));
                }
            }
        }
        Ok(Step::commit(drafts, stmts, after))
    })
    .await?;
    crate::hooks::wake(svc, pr).await;
    json(200, &view(&after))
}
