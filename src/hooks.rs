//! Outbound incident webhooks, the adapter side of `domain::hooks` and `rows::hooks`: the drain
//! the project's Durable Object runs with its outbox drain. It walks the project's audit chain
//! from its cursor and, in the batch that moves the cursor, stores each `incident.*` /
//! `repair.*` entry as one event with a delivery per subscribed endpoint; then it sends the due
//! deliveries, signed per Standard Webhooks with the endpoint's secret (and a rotated-out one
//! still valid), recording each attempt with the delivery's next state; an endpoint that answers
//! `410` or has failed every send for 24 hours is disabled (audited) and its pending deliveries
//! failed.

use crate::audit::{commit_made, jitter, Chain};
use crate::auth::scope::{ProjectHandle, Scoped};
use crate::connectors::exchange;
use crate::repo;
use crate::services::Services;
use parityrail_core::domain::audit::{Action, Actor};
use parityrail_core::domain::hooks::endpoint_url;
use parityrail_core::domain::ids::{HookDeliveryId, HookEventId};
use parityrail_core::domain::time::Timestamp;
use parityrail_core::domain::vault::{Binding, Keyring};
use parityrail_core::fault::{Fallible, Fault};
use parityrail_core::rows::hooks::sql::Of;
use parityrail_core::rows::hooks::{
    endpoint_draft, fan_out, secret_binding, sent, signed_headers, DeliveryRow, EndpointRow,
    EventRow, Sent,
};
use parityrail_core::stripe::{HttpResponse, TransportError};
use worker::{Headers, Method, Request, RequestInit, RequestRedirect};

/// Rows (events and deliveries) one walk's batch writes at most.
const ROWS_PER_WALK: usize = 200;
/// Audit entries one drain walks at most.
const ENTRIES_PER_DRAIN: u32 = 100;
/// Deliveries one drain sends at most.
const SENDS_PER_DRAIN: u32 = 10;
/// How long one drain starts sends for.
const SEND_BUDGET_MS: u64 = 15_000;
/// How long one send may take.
const TIMEOUT_MS: u64 = 10_000;
/// The vault binding of an endpoint's secrets.
pub fn binding<'a>(pr: &'a ProjectHandle, endpoint: &'a str) -> Binding<'a> {
    secret_binding(pr.tenant().org_id().as_str(), pr.as_str(), endpoint)
}

/// The enabled endpoints of the project, as stored now.
async fn enabled(pr: &ProjectHandle) -> Fallible<Vec<EndpointRow>> {
    let all = repo::hooks::endpoints(pr).await?;
    Ok(all.into_iter().filter(EndpointRow::enabled).collect())
}

/// Whether a project's endpoints must be public addresses: always in a live project; in a
/// test project unless the deployment allows private ones (`HOOK_ALLOW_PRIVATE=1`: local
/// development and the tests, whose receivers listen on loopback).
pub fn strict(svc: &Services, live: bool) -> bool {
    live || svc.var("HOOK_ALLOW_PRIVATE").as_deref() != Some("1")
}

/// One drain of the project's outbound webhooks (`live`: the project's environment); when it is
/// due again.
pub async fn drain(svc: &Services, pr: &ProjectHandle, live: bool) -> Fallible<Option<Timestamp>> {
    if enabled(pr).await?.is_empty() {
        return Ok(None);
    }
    let more = walk(svc, pr).await?;
    send_due(svc, pr, strict(svc, live)).await?;
    if more {
        return Ok(Some(svc.now));
    }
    Ok(repo::hooks::next_due(pr)
        .await?
        .and_then(|at| Timestamp::parse(&at).ok()))
}

/// Stores the events of the next audit entries and their deliveries, moving the cursor in the
/// same batch (at most `ROWS_PER_WALK` rows); whether entries are left to walk.
async fn walk(svc: &Services, pr: &ProjectHandle) -> Fallible<bool> {
    let cursor = repo::hooks::cursor(pr).await?;
    let first = enabled(pr).await?.iter().map(|e| e.from_seq).min();
    // Nothing before the first endpoint's start is anyone's (a backlog while all were off).
    let from = cursor.max(first).unwrap_or(0);
    let entries = repo::audit::page(
        pr.tenant(),
        &Chain::Project(pr).key(pr.tenant()),
        u64::try_from(from).unwrap_or(0),
        ENTRIES_PER_DRAIN,
    )
    .await?;
    if entries.is_empty() {
        return Ok(false);
    }
    // The endpoints as they are now, read after the page: one registered meanwhile starts after
    // it, so it misses nothing of what the page holds.
    let endpoints = enabled(pr).await?;
    let now = svc.now.to_rfc3339();
    let mut minted: Fallible<()> = Ok(());
    let (made, covered) =
        fan_out(
            pr.as_str(),
            &entries,
            &endpoints,
            ROWS_PER_WALK,
            |_| match HookEventId::generate(&mut svc.rng()) {
                Ok(id) => id.to_string(),
                Err(e) => {
                    minted = Err(e.into());
                    String::new()
                }
            },
        );
    minted?;
    let mut stmts: Vec<Scoped> = Vec::new();
    for (event, to) in &made {
        stmts.push(repo::hooks::insert_event(pr, event, &now)?);
        for ep in to {
            let id = HookDeliveryId::generate(&mut svc.rng())?.to_string();
            let d = DeliveryRow::new(id, ep, event, svc.now);
            stmts.push(repo::hooks::insert_delivery(pr, &d)?);
        }
    }
    let Some(covered) = covered else {
        return Ok(false);
    };
    stmts.push(repo::hooks::move_cursor(
        pr,
        i64::try_from(covered).unwrap_or(i64::MAX),
    )?);
    pr.tenant().batch(stmts).await?;
    Ok(entries.len() as u32 == ENTRIES_PER_DRAIN || entries.last().map(|e| e.seq) != Some(covered))
}

/// `HOOK_RETRY_UNIT_US` (tests): microseconds to a second of the retry schedule.
fn unit_us(svc: &Services) -> u64 {
    u64::from(svc.var_u32("HOOK_RETRY_UNIT_US", 1_000_000).max(100))
}

/// Sends the due deliveries, one after another.
async fn send_due(svc: &Services, pr: &ProjectHandle, strict: bool) -> Fallible<()> {
    let due = repo::hooks::due(pr, &svc.now.to_rfc3339(), SENDS_PER_DRAIN).await?;
    if due.is_empty() {
        return Ok(());
    }
    let ring = svc.keyring()?;
    // Endpoints not sent to again in this drain: disabled by a send, or not answering.
    let mut passed: Vec<String> = Vec::new();
    let began = worker::Date::now().as_millis();
    for d in due {
        // Slow endpoints do not hold the drain (and the project's next drains) for long: what is
        // left waits for the next one.
        if worker::Date::now().as_millis().saturating_sub(began) > SEND_BUDGET_MS {
            break;
        }
        if passed.contains(&d.endpoint_id) {
            continue;
        }
        // The endpoint as it is now (changed, rotated, disabled or deleted since the drain began).
        let ep = enabled(pr)
            .await?
            .into_iter()
            .find(|e| e.id == d.endpoint_id);
        let event = repo::hooks::event(pr, &d.event_id).await?;
        let (Some(ep), Some(event)) = (ep, event) else {
            let why = "the endpoint was disabled or deleted";
            let stmt = repo::hooks::fail(pr, Of::Delivery, &d.id, why, &svc.now.to_rfc3339())?;
            pr.tenant().batch(vec![stmt]).await?;
            continue;
        };
        // Signed with the time of the send (the drain may have run a while).
        let at = Timestamp::from_millis(worker::Date::now().as_millis() as i64);
        let answer = send(&ring, pr, &ep, &event, strict, at).await;
        let took = worker::Date::now()
            .as_millis()
            .saturating_sub(at.millis() as u64);
        let (status, error) = match answer {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        };
        let s = sent(&d, &ep, status, error, took, at, jitter(), unit_us(svc));
        if settle(svc, pr, &ep, s).await? || status.is_none() {
            passed.push(ep.id.clone());
        }
    }
    Ok(())
}

/// One send of `event` to `ep` at `at`: the HTTP status it answered, or what kept it from
/// answering.
async fn send(
    ring: &Keyring,
    pr: &ProjectHandle,
    ep: &EndpointRow,
    event: &EventRow,
    strict: bool,
    at: Timestamp,
) -> Result<u16, String> {
    // Checked again at each send: the rules may have tightened since it was registered.
    let url = endpoint_url(&ep.url, strict).map_err(|e| e.message())?;
    let t = pr.tenant().org_id().as_str();
    let h = Headers::new();
    for (k, v) in signed_headers(ring, t, pr.as_str(), ep, event, at)? {
        h.set(k, &v).map_err(|_| "bad header".to_owned())?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(h)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(event.payload.clone().into()));
    let req = Request::new_with_init(&url, &init).map_err(|_| "not a URL".to_owned())?;
    exchange(req, TIMEOUT_MS, status_only)
        .await
        .map(|r| r.status)
        .map_err(|e| format!("no answer ({e:?})"))
}

/// An answer's status; its body is not read (a receiver's answer is nothing to us).
async fn status_only(res: worker::Response) -> Result<HttpResponse, TransportError> {
    Ok(HttpResponse {
        status: res.status_code(),
        body: Vec::new(),
        retry_after_secs: None,
    })
}

/// Records one send and what follows from it, in one batch; whether the endpoint was disabled
/// (audited, its pending deliveries failed).
async fn settle(svc: &Services, pr: &ProjectHandle, ep: &EndpointRow, s: Sent) -> Fallible<bool> {
    let at = s.attempt.at.clone();
    let Some(why) = s.disable else {
        let mut stmts = repo::hooks::settle(pr, &s.delivery, &s.attempt, &at)?;
        stmts.push(repo::hooks::failing(
            pr,
            &ep.id,
            s.failed.then_some(at.as_str()),
        )?);
        pr.tenant().batch(stmts).await?;
        return Ok(false);
    };
    let after = ep.disabled(&why, svc.now);
    let (system, disabled) = (Actor::System("webhooks"), Action::HookEndpointDisabled);
    let draft = endpoint_draft(system, disabled, pr.as_str(), Some(ep), Some(&after));
    let make = || {
        let mut stmts = repo::hooks::settle(pr, &s.delivery, &s.attempt, &at)?;
        stmts.push(repo::hooks::disable(pr, &ep.id, &why, &at)?);
        stmts.push(repo::hooks::fail(pr, Of::Endpoint, &ep.id, &why, &at)?);
        Ok((draft.clone(), stmts))
    };
    commit_made(pr.tenant(), Chain::Project(pr), svc.now, &make)
        .await
        .map_err(|e| Fault::internal(e.detail.unwrap_or(e.message)))?;
    Ok(true)
}

/// Asks the project's coordinator to drain soon, when the project has an enabled endpoint (after
/// a change made outside it: an incident ignored, a repair rejected or approved, a check, a
/// replay). A failure is logged: the cron wakes the drain within minutes anyway.
#[cfg(feature = "edge")]
pub async fn wake(svc: &Services, pr: &ProjectHandle) {
    let woken = match enabled(pr).await {
        Ok(eps) if eps.is_empty() => return,
        Ok(_) => crate::coordinator::client::wake_outbox(svc, pr).await,
        Err(e) => Err(e),
    };
    if let Err(e) = woken {
        worker::console_error!(
            "{}",
            serde_json::json!({"job": "hooks", "project": pr.as_str(), "error": e.code(), "detail": e.detail()})
        );
    }
}
