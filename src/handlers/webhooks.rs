//! Stripe webhooks (SPEC §7): the delivery endpoint (verified by its route guard) and the
//! project's webhook health.

use crate::auth::extract::InProject;
use crate::auth::webhook::VerifiedWebhook;
use crate::coordinator::client::wake_outbox as wake;
use crate::http::{json, App};
use crate::repo::{self, webhooks::Source};
use crate::webhooks::{record, Recorded};
use axum::extract::State;
use axum::response::Response;
use parityrail_core::api::error::ApiResult;
use serde_json::json;

/// POST /webhooks/stripe/{pid} — acknowledged (`200`) only once the event and its outbox row
/// are durable; a duplicate delivery is acknowledged and does nothing. The coordinator is woken
/// after the answer.
#[worker::send]
pub async fn receive(State(app): State<App>, v: VerifiedWebhook) -> ApiResult<Response> {
    let outcome = record(&app.svc, &v.project, &v.event, Source::Webhook).await?;
    if outcome == Recorded::New(true) {
        let (svc, pr) = (app.svc.clone(), v.project.clone());
        app.wctx.wait_until(async move {
            // The cron wakes it too: a lost wake only delays the check.
            if let Err(e) = wake(&svc, &pr).await {
                worker::console_error!("{}", json!({"webhook": "wake", "error": e.detail()}));
            }
        });
    }
    json(
        200,
        &json!({"received": true, "duplicate": outcome == Recorded::Duplicate}),
    )
}

/// GET /v1/projects/{pid}/webhooks/health
#[worker::send]
pub async fn health(ip: InProject) -> ApiResult<Response> {
    let h = repo::webhooks::health(ip.project.handle()).await?;
    json(200, &h)
}
