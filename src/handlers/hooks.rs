//! Outbound webhook endpoints (SPEC §11): register one (its secret shown once, stored sealed),
//! list, read, change, delete, rotate its secret (the old one valid beside the new one for a
//! grace period), list its deliveries with their attempts, and replay one event. Every change is
//! audited on the project chain; one handler serves every route (one copy in the wasm).

use super::PageQuery;
use crate::audit::{head_of, retrying_in, Chain};
use crate::auth::extract::InProject;
use crate::auth::scope::{ProjectHandle, Scoped};
use crate::hooks::binding;
use crate::http::{json, page, App, Params, Query, RawBody};
use crate::repo;
use crate::services::Services;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::api::path::PathParam;
use parityrail_core::api::routes::Route;
use parityrail_core::domain::apikey::Environment;
use parityrail_core::domain::append::Step;
use parityrail_core::domain::audit::{Action, Draft};
use parityrail_core::domain::hooks::{new_secret, MAX_ENDPOINTS};
use parityrail_core::domain::ids::{HookDeliveryId, HookEndpointId, HookEventId};
use parityrail_core::domain::ports::OsRng;
use parityrail_core::fault::Fault;
use parityrail_core::rows::hooks::sql::Of;
use parityrail_core::rows::hooks::{
    endpoint_draft, replay_targets, Body, DeliveryRow, EndpointRow, Toggle,
};
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;

/// One try of a change under the append protocol, boxed: every change here goes through one
/// instantiation of it (`change`).
type Attempt<'a> = Pin<Box<dyn Future<Output = ApiResult<Step<Value, Scoped>>> + 'a>>;

async fn change<'a>(
    svc: &Services,
    ip: &'a InProject,
    op: &(dyn Fn() -> Attempt<'a> + 'a),
) -> ApiResult<Value> {
    retrying_in(&ip.p, &ip.project, svc.now, op).await
}

/// The matched route's parameter `T` (the same `404` for one that does not parse).
fn id<T: PathParam>(p: &Params) -> ApiResult<T> {
    p.params
        .iter()
        .find(|(k, _)| *k == T::NAME)
        .and_then(|(_, v)| v.as_deref())
        .and_then(T::parse)
        .ok_or_else(|| ApiError::not_found(T::WHAT))
}

/// Every route of webhook endpoints, by the route matched.
#[worker::send]
pub async fn handle(
    State(app): State<App>,
    Extension(params): Extension<Params>,
    ip: InProject,
    q: Query,
    body: RawBody,
) -> ApiResult<Response> {
    let svc = &app.svc;
    match params.route {
        Route::HooksCreate => create(svc, &ip, &body).await,
        Route::HooksList => {
            let rows = repo::hooks::endpoints(ip.project.handle()).await?;
            let pr = ip.project.handle();
            page(rows.iter().map(|e| e.view(pr.as_str())).collect(), None)
        }
        Route::HooksGet => {
            let e = endpoint(&ip, &id::<HookEndpointId>(&params)?).await?;
            json(200, &e.view(ip.project.handle().as_str()))
        }
        Route::HooksUpdate => update(svc, &ip, id(&params)?, &body).await,
        Route::HooksDelete => delete(svc, &ip, id(&params)?).await,
        Route::HooksRotate => rotate(svc, &ip, id(&params)?, &body).await,
        Route::HooksDeliveries => deliveries(&ip, id(&params)?, &q).await,
        Route::HooksReplay => replay(svc, &ip, id(&params)?, &body).await,
        _ => Err(ApiError::internal("a route bound to the wrong handler")),
    }
}

async fn endpoint(ip: &InProject, id: &HookEndpointId) -> ApiResult<EndpointRow> {
    repo::hooks::endpoints(ip.project.handle())
        .await?
        .into_iter()
        .find(|e| e.id == id.as_str())
        .ok_or_else(|| ApiError::not_found(HookEndpointId::WHAT))
}

fn sealed(svc: &Services, ip: &InProject, endpoint: &str, secret: &str) -> ApiResult<String> {
    let pr = ip.project.handle();
    svc.keyring()?
        .seal(&binding(pr, endpoint), secret, &mut OsRng)
        .map_err(|e| Fault::internal(e.to_string()).into())
}

/// POST …/webhook-endpoints — `{url, description?, events?}`; `201 {endpoint, secret}`.
async fn create(svc: &Services, ip: &InProject, body: &RawBody) -> ApiResult<Response> {
    let strict = crate::hooks::strict(svc, ip.project.row.environment == Environment::Live);
    let (url, description, events) =
        Body::parse(&body.0, &["url", "description", "events"])?.endpoint(strict)?;
    let id = HookEndpointId::generate(&mut svc.rng()).map_err(Fault::from)?;
    let secret = new_secret(&mut svc.rng()).map_err(Fault::from)?;
    let sealed = sealed(svc, ip, id.as_str(), &secret)?;
    let base = EndpointRow::new(id.to_string(), url, description, &events, sealed, svc.now);
    let pr = ip.project.handle();
    let endpoint = change(svc, ip, &|| {
        let mut row = base.clone();
        Box::pin(async move {
            if repo::hooks::endpoints(pr).await?.len() >= MAX_ENDPOINTS {
                return Err(ApiError::conflict(
                    "endpoint_limit",
                    "a project has at most 10 webhook endpoints",
                ));
            }
            // It receives what is recorded after it.
            row.from_seq = head_seq(pr).await?;
            let d = endpoint_draft(
                ip.p.actor(),
                Action::HookEndpointCreated,
                pr.as_str(),
                None,
                Some(&row),
            );
            let after = row.view(pr.as_str());
            let stmts = vec![
                repo::hooks::insert_endpoint(pr, &row)?,
                repo::hooks::start_cursor(pr, row.from_seq)?,
            ];
            Ok(Step::commit(vec![d], stmts, after))
        })
    })
    .await?;
    json(201, &json!({"endpoint": endpoint, "secret": secret}))
}

/// The head of the project's chain (an endpoint receives the events recorded after it).
async fn head_seq(pr: &ProjectHandle) -> ApiResult<i64> {
    let head = head_of(pr.tenant(), Chain::Project(pr)).await?;
    Ok(head.map_or(0, |h| i64::try_from(h.seq).unwrap_or(i64::MAX)))
}

/// PATCH …/webhook-endpoints/{hid} — `{url?, description?, events?, enabled?}`.
async fn update(
    svc: &Services,
    ip: &InProject,
    id: HookEndpointId,
    body: &RawBody,
) -> ApiResult<Response> {
    let strict = crate::hooks::strict(svc, ip.project.row.environment == Environment::Live);
    let patch =
        Body::parse(&body.0, &["url", "description", "events", "enabled"])?.patch(strict)?;
    let (pr, now, patch, id) = (ip.project.handle(), svc.now, &patch, &id);
    let after = change(svc, ip, &|| {
        Box::pin(async move {
            let before = endpoint(ip, id).await?;
            let (mut after, toggle) = before.patched(patch, now);
            let mut stmts = Vec::new();
            match toggle {
                // Like a new endpoint, it receives what is recorded from now on (a replay
                // sends what it missed).
                Toggle::Enabled => after.from_seq = head_seq(pr).await?,
                Toggle::Disabled => stmts.push(repo::hooks::fail(
                    pr,
                    Of::Endpoint,
                    &before.id,
                    "the endpoint was disabled",
                    &now.to_rfc3339(),
                )?),
                Toggle::None => {}
            }
            stmts.insert(0, repo::hooks::update_endpoint(pr, &after)?);
            let d = endpoint_draft(
                ip.p.actor(),
                Action::HookEndpointUpdated,
                pr.as_str(),
                Some(&before),
                Some(&after),
            );
            Ok(Step::commit(vec![d], stmts, after.view(pr.as_str())))
        })
    })
    .await?;
    json(200, &after)
}

/// DELETE …/webhook-endpoints/{hid} — with its deliveries; `200` with the endpoint as it was.
async fn delete(svc: &Services, ip: &InProject, id: HookEndpointId) -> ApiResult<Response> {
    let (pr, id) = (ip.project.handle(), &id);
    let before = change(svc, ip, &|| {
        Box::pin(async move {
            let before = endpoint(ip, id).await?;
            let d = endpoint_draft(
                ip.p.actor(),
                Action::HookEndpointDeleted,
                pr.as_str(),
                Some(&before),
                None,
            );
            let stmts = repo::hooks::delete_endpoint(pr, &before.id)?;
            Ok(Step::commit(vec![d], stmts, before.view(pr.as_str())))
        })
    })
    .await?;
    json(200, &before)
}

/// POST …/webhook-endpoints/{hid}/rotate — `{grace_seconds?}` (default a day, at most 7 days; 0
/// ends the old secret now); `200 {endpoint, secret}`, the new secret shown once.
async fn rotate(
    svc: &Services,
    ip: &InProject,
    id: HookEndpointId,
    body: &RawBody,
) -> ApiResult<Response> {
    let grace = Body::parse(&body.0, &["grace_seconds"])?.grace()?;
    let secret = new_secret(&mut svc.rng()).map_err(Fault::from)?;
    let fresh = sealed(svc, ip, id.as_str(), &secret)?;
    let (pr, now, id, fresh) = (ip.project.handle(), svc.now, &id, &fresh);
    let endpoint = change(svc, ip, &|| {
        Box::pin(async move {
            let before = endpoint(ip, id).await?;
            let after = before.rotated(fresh.clone(), grace, now);
            let d = endpoint_draft(
                ip.p.actor(),
                Action::HookSecretRotated,
                pr.as_str(),
                Some(&before),
                Some(&after),
            );
            let is = after.view(pr.as_str());
            Ok(Step::commit(
                vec![d],
                vec![repo::hooks::update_endpoint(pr, &after)?],
                is,
            ))
        })
    })
    .await?;
    json(200, &json!({"endpoint": endpoint, "secret": secret}))
}

/// GET …/webhook-endpoints/{hid}/deliveries — newest first, each with its attempts; `limit`,
/// `cursor`.
async fn deliveries(ip: &InProject, id: HookEndpointId, q: &Query) -> ApiResult<Response> {
    let pq = PageQuery::of(q.raw())?;
    let pr = ip.project.handle();
    let ep = endpoint(ip, &id).await?;
    let before = match pq.cursor.as_deref() {
        None => None,
        Some(c) => {
            let d = repo::hooks::delivery(pr, c)
                .await?
                .filter(|d| d.endpoint_id == ep.id)
                .ok_or_else(|| ApiError::bad_field("cursor", "not a cursor this API returned"))?;
            Some((d.created_at, d.id))
        }
    };
    let before = before.as_ref().map(|(at, id)| (at.as_str(), id.as_str()));
    let rows = repo::hooks::deliveries(pr, &ep.id, before, pq.fetch_limit()).await?;
    let (rows, next) = pq.finish(rows, |d| d.id.clone());
    let ids: Vec<&str> = rows.iter().map(|d| d.id.as_str()).collect();
    let attempts = repo::hooks::attempts(pr, &ids).await?;
    let data = rows
        .iter()
        .map(|d| {
            let mine = attempts.iter().filter(|a| a.delivery_id == d.id).collect();
            d.view(mine)
        })
        .collect();
    page(data, next)
}

/// POST …/webhook-events/{evid}/replay — `{endpoint_id?}`: the event delivered again (same
/// `webhook-id`, signed anew) to that endpoint, or to every enabled endpoint subscribed to its
/// type; `202` with the new deliveries.
async fn replay(
    svc: &Services,
    ip: &InProject,
    id: HookEventId,
    body: &RawBody,
) -> ApiResult<Response> {
    let b = Body::parse(&body.0, &["endpoint_id"])?;
    let pr = ip.project.handle();
    let now = svc.now;
    let mut ids = Vec::new();
    for _ in 0..MAX_ENDPOINTS {
        ids.push(HookDeliveryId::generate(&mut svc.rng()).map_err(Fault::from)?);
    }
    let (b, now, ids, id) = (&b, &now, &ids, &id);
    let made = change(svc, ip, &|| {
        Box::pin(async move {
            let event = repo::hooks::event(pr, id.as_str())
                .await?
                .ok_or_else(|| ApiError::not_found(HookEventId::WHAT))?;
            let all = repo::hooks::endpoints(pr).await?;
            let targets =
                replay_targets(&all, b.endpoint_id.as_deref(), &event.ty).map_err(|missing| {
                    match missing {
                        true => ApiError::not_found(HookEndpointId::WHAT),
                        false => ApiError::conflict(
                            "endpoint_disabled",
                            "enable the endpoint before replaying to it",
                        ),
                    }
                })?;
            let mut stmts = Vec::new();
            let mut made = Vec::new();
            for (e, did) in targets.iter().zip(ids) {
                let dl = DeliveryRow::new(did.to_string(), &e.id, &event, *now);
                stmts.push(repo::hooks::insert_delivery(pr, &dl)?);
                made.push(dl.view(Vec::new()));
            }
            let made = Value::Array(made);
            let d = Draft::new(
                ip.p.actor(),
                Action::HookEventReplayed,
                format!("webhook_event:{}", event.id),
                Value::Null,
                json!({"event_type": event.ty, "deliveries": made}),
            );
            Ok(Step::commit(vec![d], stmts, made))
        })
    })
    .await?;
    crate::hooks::wake(svc, pr).await;
    json(202, &json!({"event_id": id, "deliveries": made}))
}
