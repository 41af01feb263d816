//! Outbound incident webhooks, the adapter side of `domain::hooks`: the drain the project's
//! Durable Object runs with its outbox drain. It walks the project's audit chain from its cursor
//! and, in the batch that moves the cursor, stores each `incident.*` / `repair.*` entry as one
//! event with a delivery per subscribed endpoint; then it sends the due deliveries, signed per
//! Standard Webhooks with the endpoint's secret (and a rotated-out one still valid), recording
//! each attempt with the delivery's next state; an endpoint that answers `410` or has failed
//! every send for 24 hours is disabled (audited) and its pending deliveries failed.

use crate::audit::{commit_made, Chain};
use crate::auth::scope::{ProjectHandle, Scoped};
use crate::connectors::{exchange, read_capped};
use crate::repo;
use crate::repo::hooks::{AttemptRow, DeliveryRow, EndpointRow, EventRow};
use crate::services::Services;
use parityrail_core::domain::audit::{Action, Actor, Draft};
use parityrail_core::domain::hooks::{
    disable_due, endpoint_url, is_event, outcome, payload, signature_header, subscribed, Outcome,
};
use parityrail_core::domain::ids::{HookDeliveryId, HookEventId};
use parityrail_core::domain::time::Timestamp;
use parityrail_core::domain::vault::{Binding, Keyring};
use parityrail_core::fault::{Fallible, Fault};
use serde_json::{json, Value};
use worker::{Headers, Method, Request, RequestInit, RequestRedirect};

/// Audit entries one drain walks at most.
const ENTRIES_PER_DRAIN: u32 = 100;
/// Deliveries one drain sends at most.
const SENDS_PER_DRAIN: u32 = 10;
/// How long one send may take.
const TIMEOUT_MS: u64 = 10_000;
/// The vault binding's kind for an endpoint's secrets.
pub const SECRET_KIND: &str = "hook_secret";

/// The vault binding of an endpoint's secrets.
pub fn binding<'a>(pr: &'a ProjectHandle, endpoint: &'a str) -> Binding<'a> {
    Binding {
        org_id: pr.tenant().org_id().as_str(),
        project_id: pr.as_str(),
        kind: SECRET_KIND,
        credential_id: endpoint,
    }
}

/// What an endpoint looks like through the API: never a secret.
pub fn view(pr: &ProjectHandle, e: &EndpointRow) -> Value {
    json!({
        "id": e.id,
        "project_id": pr.as_str(),
        "url": e.url,
        "description": e.description,
        "events": e.filters(),
        "status": e.status,
        "disabled_reason": e.disabled_reason,
        "previous_secret_valid_until": e.old_secret_until,
        "failing_since": e.failing_since,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
    })
}

/// The chain key of a project's entries (`audit::Chain::Project`).
fn chain_key(pr: &ProjectHandle) -> String {
    format!("project:{}", pr.as_str())
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
        &chain_key(pr),
        u64::try_from(from).unwrap_or(0),
        ENTRIES_PER_DRAIN,
    )
    .await?;
    let Some(last) = entries.last().map(|e| e.seq) else {
        return Ok(false);
    };
    let now = svc.now.to_rfc3339();
    let mut stmts: Vec<Scoped> = Vec::new();
    for e in entries.iter().filter(|e| is_event(&e.action)) {
        let seq = i64::try_from(e.seq).unwrap_or(i64::MAX);
        let event = EventRow {
            id: HookEventId::generate(&mut svc.rng())?.to_string(),
            seq,
            ty: e.action.clone(),
            payload: payload(
                &e.action,
                &e.at,
                pr.as_str(),
                e.seq,
                &e.target,
                &e.before,
                &e.after,
            ),
        };
        stmts.push(repo::hooks::insert_event(pr, &event, &now)?);
        for ep in endpoints
            .iter()
            .filter(|ep| ep.from_seq < seq && subscribed(&ep.filters(), &e.action))
        {
            let id = HookDeliveryId::generate(&mut svc.rng())?;
            stmts.push(repo::hooks::insert_delivery(
                pr,
                id.as_str(),
                &ep.id,
                &event,
                &now,
            )?);
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

/// A random byte (the retry's jitter).
fn jitter() -> u8 {
    let mut b = [0u8; 1];
    let _ = getrandom::getrandom(&mut b);
    b[0]
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
        let n = d.attempts + 1;
        let (status, error) = match &answer {
            Ok(s) => (Some(*s), None),
            Err(e) => (None, Some(e.clone())),
        };
        let result = outcome(
            status,
            u32::try_from(n).unwrap_or(u32::MAX),
            jitter(),
            unit_us(svc),
        );
        if settle(svc, pr, ep, d, n, status, error, took, &result).await? {
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
    let current = ring
        .open(&b, &ep.secret_sealed)
        .map_err(|_| "the endpoint's secret could not be opened".to_owned())?;
    let now = svc.now;
    let old = match (&ep.old_secret_sealed, &ep.old_secret_until) {
        (Some(sealed), Some(until)) if Timestamp::parse(until).is_ok_and(|u| u > now) => {
            ring.open(&b, sealed).ok()
        }
        _ => None,
    };
    let mut secrets = vec![current.expose()];
    if let Some(o) = &old {
        secrets.push(o.expose());
    }
    let ts = now.millis() / 1000;
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|_| "bad header".to_owned());
    set("content-type", "application/json")?;
    set("user-agent", "ParityRail-Webhooks/1")?;
    set("webhook-id", &event.id)?;
    set("webhook-timestamp", &ts.to_string())?;
    set(
        "webhook-signature",
        &signature_header(&secrets, &event.id, ts, &event.payload),
    )?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(event.payload.clone().into()));
    let req = Request::new_with_init(&url, &init).map_err(|_| "not a URL".to_owned())?;
    exchange(req, TIMEOUT_MS, read_capped)
        .await
        .map(|r| r.status)
        .map_err(|e| format!("no answer ({e:?})"))
}

/// Records one send and what follows from it, in one batch; whether the endpoint was disabled.
#[allow(clippy::too_many_arguments)]
async fn settle(
    svc: &Services,
    pr: &ProjectHandle,
    ep: &EndpointRow,
    mut d: DeliveryRow,
    n: i64,
    status: Option<u16>,
    error: Option<String>,
    took_ms: u64,
    result: &Outcome,
) -> Fallible<bool> {
    let now = svc.now;
    let at = now.to_rfc3339();
    let attempt = AttemptRow {
        delivery_id: d.id.clone(),
        n,
        at: at.clone(),
        status: status.map(i64::from),
        error,
        duration_ms: i64::try_from(took_ms).unwrap_or(i64::MAX),
    };
    d.attempts = n;
    d.last_status = attempt.status;
    d.last_error = attempt.error.clone();
    let mut disable = None;
    match result {
        Outcome::Delivered => d.status = "delivered".into(),
        Outcome::Retry(us) => {
            let ms = i64::try_from(us / 1000).unwrap_or(i64::MAX);
            d.next_attempt_at =
                Timestamp::from_millis(now.millis().saturating_add(ms)).to_rfc3339();
        }
        Outcome::Failed => d.status = "failed".into(),
        Outcome::Gone => {
            d.status = "failed".into();
            disable = Some("the endpoint answered 410 Gone".to_owned());
        }
    }
    let failing_since = ep
        .failing_since
        .as_deref()
        .and_then(|s| Timestamp::parse(s).ok())
        .unwrap_or(now);
    if *result != Outcome::Delivered
        && disable.is_none()
        && disable_due(failing_since.millis(), now.millis(), unit_us(svc))
    {
        disable = Some("every send failed for 24 hours".to_owned());
    }
    let Some(why) = disable else {
        let mut stmts = repo::hooks::settle(pr, &d, &attempt, &at)?;
        let delivered = *result == Outcome::Delivered;
        stmts.push(repo::hooks::failing(
            pr,
            &ep.id,
            (!delivered).then_some(at.as_str()),
        )?);
        pr.tenant().batch(stmts).await?;
        return Ok(false);
    };
    // Disabled, audited, and its pending deliveries failed, with this send, in one batch.
    let mut after = ep.clone();
    after.status = "disabled".into();
    after.disabled_reason = Some(why.clone());
    after.updated_at = at.clone();
    let draft = Draft {
        actor: Actor::System("webhooks"),
        action: Action::HookEndpointDisabled,
        target: format!("webhook_endpoint:{}", ep.id),
        before: view(pr, ep),
        after: view(pr, &after),
    };
    let make = || {
        let mut s = repo::hooks::settle(pr, &d, &attempt, &at)?;
        s.push(repo::hooks::update_endpoint(pr, &after)?);
        s.push(repo::hooks::fail_pending(pr, &ep.id, &why, &at)?);
        Ok((draft.clone(), s))
    };
    commit_made(pr.tenant(), Chain::Project(pr), now, &make)
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
