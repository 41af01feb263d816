//! The Workers entry points. `fetch`: request id and client bucket into `RequestMeta`, services
//! from the `Env`, the one router, then the error (if any) rendered for its surface, one log line
//! whose URL has `api_key` scrubbed, and the headers every response carries. `scheduled`: the
//! cron jobs, with the `SystemGrant` only entry points can make.

use super::error::{render_json, Surface};
use super::http::{App, RequestMeta};
use super::jobs;
use super::services::Services;
use super::unread::Unread;
use crate::auth::grants::{EntryPoint, SystemGrant};
use crate::clock::clock;
use crate::router::dispatch;
use axum::body::Body;
use axum::http::{HeaderValue, Response, Uri};
use parityrail_core::domain::scrub::scrub_path_and_query;
use std::sync::Arc;
use worker::{
    console_error, console_log, event, Context, Env, HttpRequest, ScheduleContext, ScheduledEvent,
};

#[event(fetch)]
async fn fetch(mut req: HttpRequest, env: Env, wctx: Context) -> worker::Result<Response<Body>> {
    let meta = RequestMeta::new(req.headers());
    let method = req.method().to_string();
    let logged_url = scrub_path_and_query(req.uri().path(), req.uri().query());
    if let Some(uri) = without_trailing_slash(req.uri()) {
        *req.uri_mut() = uri;
    }
    // `/mcp/` is `/mcp`: its errors are JSON-RPC too.
    let surface = if req.uri().path() == "/mcp" {
        Surface::JsonRpc
    } else {
        Surface::Api
    };
    req.extensions_mut().insert(meta.clone());
    let app = App {
        svc: Arc::new(Services::new(env)),
        wctx: Arc::new(wctx),
    };
    let started = clock();
    let unread = Unread::default();
    let req = req.map(|body| unread.hold(body));
    let mut res = dispatch(app, req).await;
    // Whatever of the body the router left unread is read now, before the answer goes out.
    unread.drain().await;
    if let Some(err) = render_json(&mut res, &meta.request_id, surface) {
        if let Some(detail) = &err.detail {
            console_error!(
                "{}",
                serde_json::json!({"request_id": meta.request_id, "error": err.code, "detail": detail})
            );
        }
    }
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&meta.request_id) {
        headers.insert("x-request-id", v);
    }
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    console_log!(
        "{}",
        serde_json::json!({
            "request_id": meta.request_id,
            "method": method,
            "url": logged_url,
            "status": res.status().as_u16(),
            "ms": clock().millis() - started.millis(),
        })
    );
    Ok(res)
}

/// `/v1/org/` is `/v1/org`: one canonical form of every path (`api::path::canonical`).
fn without_trailing_slash(uri: &Uri) -> Option<Uri> {
    let pq = parityrail_core::api::path::canonical(uri.path(), uri.query())?;
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse().ok()?);
    Uri::from_parts(parts).ok()
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, sctx: ScheduleContext) {
    let svc = Services::new(env);
    let grant = SystemGrant::for_entry_point(EntryPoint::cron(&sctx));
    // Each job on its own: one failing leaves the others to run. The re-wrap (security)
    // goes first.
    let cron = event.cron();
    // The three prune jobs share one budget of delete statements a tick.
    let prune = jobs::PruneBudget::new(&svc);
    job(
        &cron,
        "rewrap",
        "credentials_rewrapped",
        jobs::rewrap_credentials(&svc, &grant),
    )
    .await;
    job(
        &cron,
        "runs",
        "runs_started",
        jobs::start_due_runs(&svc, &grant),
    )
    .await;
    job(
        &cron,
        "outbox",
        "outboxes_woken",
        jobs::wake_due_outboxes(&svc, &grant),
    )
    .await;
    job(
        &cron,
        "events",
        "events_recovered",
        jobs::recover_events(&svc, &grant),
    )
    .await;
    job(
        &cron,
        "snapshots",
        "snapshots_pruned",
        jobs::prune_snapshots(&svc, &grant, &prune),
    )
    .await;
    job(
        &cron,
        "checkpoints",
        "checkpoints_signed",
        super::checkpoints::sign_due(&svc, &grant),
    )
    .await;
    job(
        &cron,
        "outbox_prune",
        "outbox_rows_pruned",
        jobs::prune_outbox(&svc, &grant, &prune),
    )
    .await;
    job(
        &cron,
        "webhook_events_prune",
        "webhook_events_pruned",
        jobs::prune_webhook_events(&svc, &grant, &prune),
    )
    .await;
}

/// Runs one cron job and logs one line for it: what it did (`what: n`) or its error, and how
/// long it took (`ms`), so a tick that stalls shows which job it stalled in.
async fn job<N: serde::Serialize>(
    cron: &str,
    job: &str,
    what: &str,
    work: impl std::future::Future<Output = Result<N, parityrail_core::domain::store::StoreError>>,
) {
    let started = clock();
    let outcome = work.await;
    let ms = clock().millis() - started.millis();
    match outcome {
        Ok(n) => console_log!(
            "{}",
            serde_json::json!({"cron": cron, "job": job, what: n, "ms": ms})
        ),
        Err(e) => console_error!(
            "{}",
            serde_json::json!({"cron": cron, "job": job, "error": e.to_string(), "ms": ms})
        ),
    }
}
