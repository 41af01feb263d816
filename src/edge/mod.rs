//! The Workers runtime glue (wasm32 only): entry points for fetch and cron. Every response
//! carries `x-request-id`; every request logs one line whose URL has `api_key` scrubbed.

mod audit;
mod auth;
mod connectors;
mod coordinator;
mod error;
mod handlers;
mod http;
mod jobs;
mod rate_limiter;
mod repo;
mod router;
mod vault;

use crate::domain::scrub::scrub_path_and_query;
use http::Ctx;
use worker::{
    console_error, console_log, event, Context, Env, Request, Response, Result, ScheduleContext,
    ScheduledEvent,
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, wctx: Context) -> Result<Response> {
    let ctx = Ctx::new(env, wctx, &req);
    let method = req.method().to_string();
    let logged_url = req
        .url()
        .map(|u| scrub_path_and_query(u.path(), u.query()))
        .unwrap_or_default();
    let started = http::now();
    let result = router::route(&ctx, req).await;
    let mut response = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some(detail) = &e.detail {
                console_error!(
                    "{}",
                    serde_json::json!({"request_id": ctx.request_id, "error": e.code, "detail": detail})
                );
            }
            e.into_response(&ctx.request_id)
        }
    };
    let _ = response.headers_mut().set("x-request-id", &ctx.request_id);
    let _ = response.headers_mut().set("cache-control", "no-store");
    let _ = response
        .headers_mut()
        .set("x-content-type-options", "nosniff");
    console_log!(
        "{}",
        serde_json::json!({
            "request_id": ctx.request_id,
            "method": method,
            "url": logged_url,
            "status": response.status_code(),
            "ms": http::now().millis() - started.millis(),
        })
    );
    Ok(response)
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let rewrapped = jobs::rewrap_credentials(&env, http::now()).await;
    match rewrapped {
        Ok(n) => console_log!(
            "{}",
            serde_json::json!({"cron": event.cron(), "credentials_rewrapped": n})
        ),
        Err(e) => console_error!(
            "{}",
            serde_json::json!({"cron": event.cron(), "job": "rewrap", "error": e.detail})
        ),
    }
}
