//! Outbound webhook endpoints (SPEC §11): register one (its secret shown once, stored sealed),
//! list, read, change, delete, rotate its secret (the old one valid beside the new one for a
//! grace period), list its deliveries with their attempts, and replay one event. Every change is
//! audited on the project chain; one handler serves every route (one copy in the wasm).

use super::PageQuery;
use crate::audit::{head_of, retrying_in, Chain};
use crate::auth::extract::InProject;
use crate::auth::scope::{ProjectHandle, Scoped};
use crate::hooks::{binding, view};
use crate::http::{json, page, App, Params, Query, RawBody};
use crate::repo;
use crate::repo::hooks::{DeliveryRow, EndpointRow};
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
use parityrail_core::domain::hooks::{
    endpoint_url, new_secret, parse_description, parse_events, subscribed, DEFAULT_GRACE_SECS,
    MAX_ENDPOINTS, MAX_GRACE_SECS,
};
use parityrail_core::domain::ids::{HookDeliveryId, HookEndpointId, HookEventId};
use parityrail_core::domain::ports::OsRng;
use parityrail_core::fault::Fault;
use serde::Deserialize;
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;

/// Every body these routes take, as one type (one decoder in the wasm); each route refuses the
/// fields it does not take (`Body::only`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    grace_seconds: Option<u64>,
    #[serde(default)]
    endpoint_id: Option<String>,
}

impl Body {
    /// The body (`{}` when empty), refusing any field but `allowed`.
    fn parse(raw: &RawBody, allowed: &[&str]) -> ApiResult<Body> {
        let b: Body = if raw.0.iter().all(u8::is_ascii_whitespace) {
            Body::default()
        } else {
            raw.json()?
        };
        let given = [
            ("url", b.url.is_some()),
            ("description", b.description.is_some()),
            ("events", b.events.is_some()),
            ("enabled", b.enabled.is_some()),
            ("grace_seconds", b.grace_seconds.is_some()),
            ("endpoint_id", b.endpoint_id.is_some()),
        ];
        match given.iter().find(|(n, set)| *set && !allowed.contains(n)) {
            Some(_) => Err(ApiError::bad_field(
                "body",
                format!("unknown field; expected {}", allowed.join(", ")),
            )),
            None => Ok(b),
        }
    }
}

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
            page(rows.iter().map(|e| view(pr, e)).collect(), None)
        }
        Route::HooksGet => {
            let e = endpoint(&ip, &id::<HookEndpointId>(&params)?).await?;
            json(200, &view(ip.project.handle(), &e))
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

/// The audit draft of a change to endpoint `id`.
fn draft(ip: &InProject, action: Action, id: &str, before: Value, after: Value) -> Draft {
    Draft::new(
        ip.p.actor(),
        action,
        format!("webhook_endpoint:{id}"),
        before,
        after,
    )
}

fn sealed(svc: &Services, ip: &InProject, endpoint: &str, secret: &str) -> ApiResult<String> {
    let pr = ip.project.handle();
    svc.keyring()?
        .seal(&binding(pr, endpoint), secret, &mut OsRng)
        .map_err(|e| Fault::internal(e.to_string()).into())
}

/// POST …/webhook-endpoints — `{url, description?, events?}`; `201 {endpoint, secret}`.
async fn create(svc: &Services, ip: &InProject, body: &RawBody) -> ApiResult<Response> {
    let b = Body::parse(body, &["url", "description", "events"])?;
    let live = ip.project.row.environment == Environment::Live;
    let url = b
        .url
        .as_deref()
        .ok_or_else(|| ApiError::bad_field("url", "is required"))?;
    let url = endpoint_url(url, live)?;
    let events = parse_events(b.events.as_deref())?;
    let description = parse_description(b.description.as_deref().unwrap_or(""))?;
    let id = HookEndpointId::generate(&mut svc.rng()).map_err(Fault::from)?;
    let secret = new_secret(&mut svc.rng()).map_err(Fault::from)?;
    let now = svc.now.to_rfc3339();
    let base = EndpointRow {
        id: id.to_string(),
        url,
        description,
        events: json!(events).to_string(),
        status: "enabled".into(),
        disabled_reason: None,
        secret_sealed: sealed(svc, ip, id.as_str(), &secret)?,
        old_secret_sealed: None,
        old_secret_until: None,
        from_seq: 0,
        failing_since: None,
        created_at: now.clone(),
        updated_at: now,
    };
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
            let after = view(pr, &row);
            let d = draft(
                ip,
                Action::HookEndpointCreated,
                &row.id,
                Value::Null,
                after.clone(),
            );
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
    let b = Body::parse(body, &["url", "description", "events", "enabled"])?;
    let live = ip.project.row.environment == Environment::Live;
    let url = b
        .url
        .as_deref()
        .map(|u| endpoint_url(u, live))
        .transpose()?;
    let events = match &b.events {
        Some(e) => Some(parse_events(Some(e))?),
        None => None,
    };
    let description = b
        .description
        .as_deref()
        .map(parse_description)
        .transpose()?;
    let (pr, now) = (ip.project.handle(), svc.now.to_rfc3339());
    let (url, events, description, now, id) = (&url, &events, &description, &now, &id);
    let after = change(svc, ip, &|| {
        Box::pin(async move {
            let before = endpoint(ip, id).await?;
            let mut after = before.clone();
            if let Some(u) = url {
                after.url = u.clone();
            }
            if let Some(e) = events {
                after.events = json!(e).to_string();
            }
            if let Some(d) = description {
                after.description = d.clone();
            }
            let mut stmts = Vec::new();
            match b.enabled {
                Some(true) if !before.enabled() => {
                    after.status = "enabled".into();
                    after.disabled_reason = None;
                    after.failing_since = None;
                    // Like a new endpoint, it receives what is recorded from now on (a replay
                    // sends what it missed).
                    after.from_seq = head_seq(pr).await?;
                }
                Some(false) if before.enabled() => {
                    after.status = "disabled".into();
                    after.disabled_reason = Some("disabled through the API".into());
                    stmts.push(repo::hooks::fail_pending(
                        pr,
                        &before.id,
                        "the endpoint was disabled",
                        now,
                    )?);
                }
                _ => {}
            }
            after.updated_at = now.clone();
            stmts.insert(0, repo::hooks::update_endpoint(pr, &after)?);
            let (was, is) = (view(pr, &before), view(pr, &after));
            let d = draft(ip, Action::HookEndpointUpdated, &before.id, was, is.clone());
            Ok(Step::commit(vec![d], stmts, is))
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
            let was = view(pr, &before);
            let d = draft(
                ip,
                Action::HookEndpointDeleted,
                &before.id,
                was.clone(),
                Value::Null,
            );
            let stmts = repo::hooks::delete_endpoint(pr, &before.id)?;
            Ok(Step::commit(vec![d], stmts, was))
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
    let b = Body::parse(body, &["grace_seconds"])?;
    let grace = b.grace_seconds.unwrap_or(DEFAULT_GRACE_SECS);
    if grace > MAX_GRACE_SECS {
        return Err(ApiError::bad_field(
            "grace_seconds",
            "expected at most 604800 (7 days)",
        ));
    }
    let secret = new_secret(&mut svc.rng()).map_err(Fault::from)?;
    let fresh = sealed(svc, ip, id.as_str(), &secret)?;
    let (pr, now, id, fresh) = (ip.project.handle(), svc.now, &id, &fresh);
    let endpoint = change(svc, ip, &|| {
        Box::pin(async move {
            let before = endpoint(ip, id).await?;
            let mut after = before.clone();
            after.secret_sealed = fresh.clone();
            (after.old_secret_sealed, after.old_secret_until) = if grace == 0 {
                (None, None)
            } else {
                let until = now.plus_seconds(i64::try_from(grace).unwrap_or(0));
                (Some(before.secret_sealed.clone()), Some(until.to_rfc3339()))
            };
            after.updated_at = now.to_rfc3339();
            let (was, is) = (view(pr, &before), view(pr, &after));
            let d = draft(ip, Action::HookSecretRotated, &before.id, was, is.clone());
            Ok(Step::commit(
                vec![d],
                vec![repo::hooks::rotate(pr, &after)?],
                is,
            ))
        })
    })
    .await?;
    json(200, &json!({"endpoint": endpoint, "secret": secret}))
}

fn delivery_view(d: &DeliveryRow, attempts: Vec<&repo::hooks::AttemptRow>) -> Value {
    json!({
        "id": d.id,
        "endpoint_id": d.endpoint_id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "status": d.status,
        "attempt_count": d.attempts,
        "next_attempt_at": (d.status == "pending").then_some(&d.next_attempt_at),
        "last_status": d.last_status,
        "last_error": d.last_error,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "attempts": attempts,
    })
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
            delivery_view(d, mine)
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
    let b = Body::parse(body, &["endpoint_id"])?;
    let pr = ip.project.handle();
    let now = svc.now.to_rfc3339();
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
            let targets: Vec<&EndpointRow> = match &b.endpoint_id {
                Some(want) => {
                    let e = all
                        .iter()
                        .find(|e| &e.id == want)
                        .ok_or_else(|| ApiError::not_found(HookEndpointId::WHAT))?;
                    if !e.enabled() {
                        return Err(ApiError::conflict(
                            "endpoint_disabled",
                            "enable the endpoint before replaying to it",
                        ));
                    }
                    vec![e]
                }
                None => all
                    .iter()
                    .filter(|e| e.enabled() && subscribed(&e.filters(), &event.ty))
                    .collect(),
            };
            let mut stmts = Vec::new();
            let mut made = Vec::new();
            for (e, did) in targets.iter().zip(ids) {
                stmts.push(repo::hooks::insert_delivery(
                    pr,
                    did.as_str(),
                    &e.id,
                    &event,
                    now,
                )?);
                made.push(json!({"id": did, "endpoint_id": e.id, "event_id": event.id,
                    "event_type": event.ty, "status": "pending", "attempt_count": 0,
                    "next_attempt_at": now, "created_at": now}));
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
