//! The Workers runtime glue (wasm32 only): entry points for fetch and cron, nothing else.

mod coordinator;
mod rate_limiter;

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    match req.path().as_str() {
        "/healthz" => Response::from_json(&serde_json::json!({"ok": true})),
        _ => Response::error("not found", 404),
    }
}
