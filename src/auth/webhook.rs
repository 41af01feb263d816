//! A Stripe webhook delivery's authentication: its signature checked against its project's
//! webhook secrets, at the same cost whatever the project id names.

use super::grants::RAW;
use super::scope::{ProjectHandle, Tenant};
use crate::http::App;
use crate::repo;
use axum::http::HeaderMap;
use parityrail_core::api::error::ApiError;
use parityrail_core::domain::apikey::Environment;
use parityrail_core::domain::ids::{OrgId, ProjectId};
use parityrail_core::fault::Fault;

/// A Stripe delivery whose signature checked out against one of its project's webhook secrets.
/// Only `webhook` makes one.
#[derive(Clone)]
pub struct VerifiedWebhook {
    pub project: ProjectHandle,
    pub event: parityrail_core::domain::webhook::EventFacts,
}

/// The one answer to every delivery that does not verify (SPEC §7: it does not say which check
/// failed).
pub fn webhook_refused() -> ApiError {
    ApiError::new(
        400,
        "invalid_webhook",
        "the webhook delivery could not be verified",
    )
}

/// Why a delivery was not verified: it does not verify (nothing to log), or ParityRail could
/// not tell (storage, the keyring: logged). Both answer the same `400`.
#[derive(Debug)]
pub enum Unverified {
    Refused,
    Failed(Fault),
}

impl From<Fault> for Unverified {
    fn from(f: Fault) -> Self {
        Unverified::Failed(f)
    }
}

/// The checks of a delivery that need no I/O: a `Stripe-Signature` header that parses, with a
/// timestamp within 300 s of now, and a project id of the right shape. Returns the header.
pub fn webhook_precheck(app: &App, pid: &str, headers: &HeaderMap) -> Result<String, Unverified> {
    use parityrail_core::domain::webhook;
    let refused = |_| Unverified::Refused;
    let header = headers
        .get("stripe-signature")
        .and_then(|h| h.to_str().ok())
        .ok_or(Unverified::Refused)?;
    let parsed = webhook::parse_header(header).ok_or(Unverified::Refused)?;
    let now = app.svc.now.millis() / 1000;
    if (now - parsed.timestamp).abs() > webhook::TOLERANCE_SECS {
        return Err(Unverified::Refused);
    }
    ProjectId::parse(pid).map_err(refused)?;
    Ok(header.to_owned())
}

/// Verifies a delivery to `POST /webhooks/stripe/{pid}` after `webhook_precheck`: the project
/// exists and has webhook secrets, the header signs `body` under one of them, the body is a
/// Stripe event, and its mode matches the project's environment (a test-mode event never
/// reaches a live project). No failure budget: a 256-bit HMAC is not guessed, and Stripe sends
/// every tenant's deliveries from the same few addresses, which one tenant's failures must not
/// lock out. Instead a refusal costs the same whatever the id names: the body is signed under
/// `webhook::SECRET_SLOTS` slots also for a project without secrets and for an id no project
/// has, and the answer comes only after that work.
pub async fn webhook(
    app: &App,
    pid: &str,
    header: &str,
    body: &[u8],
) -> Result<VerifiedWebhook, Unverified> {
    use parityrail_core::domain::webhook;
    let svc = &app.svc;
    let refused = || Unverified::Refused;
    let id = ProjectId::parse(pid).map_err(|_| refused())?;
    let db = svc.db(&RAW)?;
    let now_secs = svc.now.millis() / 1000;
    // One round trip: the project's org and environment and its sealed webhook secrets.
    let Some((org, environment, rows)) = repo::projects::webhook_target(&db, id.as_str()).await?
    else {
        // No such project: the same work as a project without secrets (the keyring read, the
        // HMACs kept from being optimised away, their result being unused), then the same
        // refusal.
        std::hint::black_box(svc.keyring().is_ok());
        std::hint::black_box(webhook::verify(
            header,
            std::hint::black_box(body),
            &[],
            now_secs,
        ))
        .ok();
        return Err(refused());
    };
    let org = OrgId::parse(&org).map_err(|_| refused())?;
    let project = ProjectHandle::new(Tenant::new(db, org), id);
    let ring = svc.keyring()?;
    let mut secrets = Vec::new();
    for row in &rows {
        // Opened with the project's own binding: a row of another project does not open. One
        // that does not open (sealed under a retired key) is skipped, so the other secret of a
        // rotation still verifies.
        match crate::vault::open(&ring, project.tenant(), row) {
            Ok(s) => secrets.push(s),
            Err(e) => worker::console_error!(
                "{}",
                serde_json::json!({"webhook": "secret", "credential": row.id, "detail": e.detail()})
            ),
        }
    }
    let keys: Vec<&[u8]> = secrets.iter().map(|s| s.expose().as_bytes()).collect();
    webhook::verify(header, body, &keys, now_secs).map_err(|_| refused())?;
    let event = webhook::event_facts(body).ok_or_else(refused)?;
    let live = environment == Environment::Live.as_str();
    if event.livemode.is_some_and(|m| m != live) {
        return Err(refused());
    }
    Ok(VerifiedWebhook { project, event })
}
