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
use crate::connectors::{exchange, read_capped};
use crate::repo;
use crate::services::Services;
use parityrail_core::domain::audit::{Action, Actor, Draft};
use parityrail_core::domain::hooks::endpoint_url;
use parityrail_core::domain::ids::{HookDeliveryId, HookEventId};
use parityrail_core::domain::time::Timestamp;
use parityrail_core::domain::vault::{Binding, Keyring};
use parityrail_core::fault::{Fallible, Fault};
use parityrail_core::rows::hooks::{
    fan_out, headers, secret_binding, sent, DeliveryRow, EndpointRow, EventRow, Sent,
};
use serde_json::json;
use worker::{Headers, Method, Request, RequestInit, RequestRedirect};

/// Audit entries one drain walks at most.
const ENTRIES_PER_DRAIN: u32 = 100;
/// Deliveries one drain sends at most.
const SENDS_PER_DRAIN: u32 = 10;
/// How long one send may take.
const TIMEOUT_MS: u64 = 10_000;
/// The vault binding of an endpoint's secrets.
pub fn binding<'a>(pr: &'a ProjectHandle, endpoint: &'a str) -> Binding<'a> {
    secret_binding(pr.tenant().org_id().as_str(), pr.as_str(), endpoint)
}

/// One drain of the project's outbound webhooks (`live`: the project's environment); when it is
/// due again.
pub async fn drain(svc: &Services, pr: &ProjectHandle, live: bool) -> Fallible<Option<Timestamp>> {
    let endpoints: Vec<EndpointRow> = repo::hooks::endpoints(pr)
        .await?
        .into_iter()
        .filter(EndpointRow::enabled)
        .collect();
    if endpoints.is_empty() {
        return Ok(None);
    }
    let more = walk(svc, pr, &endpoints).await?;
    send_due(svc, pr, &endpoints, live).await?;
    if more {
        return Ok(Some(svc.now));
    }
    Ok(repo::hooks::next_due(pr)
        .await?
        .and_then(|at| Timestamp::parse(&at).ok()))
}

/// Stores the events of the next audit entries and their deliveries, moving the cursor in the
/// same batch; whether entries are left to walk.
async fn walk(svc: &Services, pr: &ProjectHandle, endpoints: &[EndpointRow]) -> Fallible<bool> {
    let from = match repo::hooks::cursor(pr).await? {
        Some(seq) => seq,
        None => endpoints.iter().map(|e| e.from_seq).min().unwrap_or(0),
    };
    let entries = repo::audit::page(
        pr.tenant(),
        &Chain::Project(pr).key(pr.tenant()),
        u64::try_from(from).unwrap_or(0),
        ENTRIES_PER_DRAIN,
    )
    .await?;
    let Some(last) = entries.last().map(|e| e.seq) else {
        return Ok(false);
    };
    let now = svc.now.to_rfc3339();
    let mut minted: Fallible<()> = Ok(());
    let made = fan_out(
        pr.as_str(),
        &entries,
        endpoints,
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
    stmts.push(repo::hooks::move_cursor(
        pr,
        i64::try_from(last).unwrap_or(i64::MAX),
    )?);
    pr.tenant().batch(stmts).await?;
    Ok(entries.len() as u32 == ENTRIES_PER_DRAIN)
}

/// `HOOK_RETRY_UNIT_US` (tests): microseconds to a second of the retry schedule.
fn unit_us(svc: &Services) -> u64 {
    u64::from(svc.var_u32("HOOK_RETRY_UNIT_US", 1_000_000).max(100))
}

/// Sends the due deliveries, one after another.
async fn send_due(
    svc: &Services,
    pr: &ProjectHandle,
    endpoints: &[EndpointRow],
    live: bool,
) -> Fallible<()> {
    let due = repo::hooks::due(pr, &svc.now.to_rfc3339(), SENDS_PER_DRAIN).await?;
    if due.is_empty() {
        return Ok(());
    }
    let ring = svc.keyring()?;
    let mut disabled: Vec<String> = Vec::new();
    for d in due {
        let Some(ep) = endpoints
            .iter()
            .find(|e| e.id == d.endpoint_id && !disabled.contains(&e.id))
        else {
            continue;
        };
        let Some(event) = repo::hooks::event(pr, &d.event_id).await? else {
            continue;
        };
        let started = worker::Date::now().as_millis();
        let answer = send(svc, &ring, pr, ep, &event, live).await;
        let took = worker::Date::now().as_millis().saturating_sub(started);
        let (status, error) = match answer {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        };
        let s = sent(&d, ep, status, error, took, svc.now, jitter(), unit_us(svc));
        if settle(svc, pr, ep, s).await? {
            disabled.push(ep.id.clone());
        }
    }
    Ok(())
}

/// One send of `event` to `ep`: the HTTP status it answered, or what kept it from answering.
async fn send(
    svc: &Services,
    ring: &Keyring,
    pr: &ProjectHandle,
    ep: &EndpointRow,
    event: &EventRow,
    live: bool,
) -> Result<u16, String> {
    // Checked again at each send: the rules may have tightened since it was registered.
    let url = endpoint_url(&ep.url, live).map_err(|e| e.message())?;
    let b = binding(pr, &ep.id);
    let mut secrets = Vec::new();
    for sealed in ep.sealed_secrets(svc.now) {
        let s = ring
            .open(&b, sealed)
            .map_err(|_| "the endpoint's secret could not be opened".to_owned())?;
        secrets.push(s);
    }
    let plain: Vec<&str> = secrets.iter().map(|s| s.expose()).collect();
    let h = Headers::new();
    for (k, v) in headers(event, svc.now.millis() / 1000, &plain) {
        h.set(k, &v).map_err(|_| "bad header".to_owned())?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(h)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(event.payload.clone().into()));
    let req = Request::new_with_init(&url, &init).map_err(|_| "not a URL".to_owned())?;
    exchange(req, TIMEOUT_MS, read_capped)
        .await
        .map(|r| r.status)
        .map_err(|e| format!("no answer ({e:?})"))
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
    let draft = Draft {
        actor: Actor::System("webhooks"),
        action: Action::HookEndpointDisabled,
        target: format!("webhook_endpoint:{}", ep.id),
        before: ep.view(pr.as_str()),
        after: after.view(pr.as_str()),
    };
    let make = || {
        let mut stmts = repo::hooks::settle(pr, &s.delivery, &s.attempt, &at)?;
        stmts.push(repo::hooks::update_endpoint(pr, &after)?);
        stmts.push(repo::hooks::fail_pending(pr, &ep.id, &why, &at)?);
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
pub async fn wake(svc: &Services, pr: &ProjectHandle) {
    let woken = match repo::hooks::any_enabled(pr).await {
        Ok(false) => return,
        Ok(true) => crate::coordinator::client::wake_outbox(svc, pr).await,
        Err(e) => Err(e),
    };
    if let Err(e) = woken {
        worker::console_error!(
            "{}",
            json!({"job": "hooks", "project": pr.as_str(), "error": e.code(), "detail": e.detail()})
        );
    }
}
