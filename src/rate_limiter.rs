//! `RateLimiter` Durable Object: one instance per bucket name (`key:<id>`, or a client's
//! `ip:…`/`ip6:…/64`), so a limit holds across every isolate. A thin shell over
//! `domain::ratelimit`; state is persisted before the answer, and requests to one object are
//! serialised by the runtime.
//!
//! - `take?per_minute=N` — a key's token bucket;
//! - `attempt?limit=N` — refuses a locked-out client, otherwise counts the attempt as a failure
//!   and answers the window it was counted in (`window`);
//! - `refund?window=W` — takes back the count of an attempt of window `W` that succeeded.

use parityrail_core::domain::ratelimit::{take, Bucket, Decision, Lockout};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

#[durable_object]
pub struct RateLimiter {
    state: State,
}

fn param(req: &Request, name: &str, default: u32) -> Result<u32> {
    Ok(req
        .url()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse::<u32>().ok())
        .unwrap_or(default))
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let storage = self.state.storage();
        let now = worker::Date::now().as_millis() as i64;
        let decision = match req.path().as_str() {
            "/take" => {
                let bucket: Option<Bucket> = storage.get("bucket").await?;
                let (bucket, decision) = take(bucket, param(&req, "per_minute", 60)?, now);
                storage.put("bucket", bucket).await?;
                decision
            }
            "/attempt" => {
                let lockout: Option<Lockout> = storage.get("lockout").await?;
                let (next, decision) = Lockout::attempt(lockout, param(&req, "limit", 60)?, now);
                if let Some(next) = next {
                    storage.put("lockout", next).await?;
                }
                let window = next.map_or(0, |l| l.window_start_ms);
                return Response::from_json(&serde_json::json!({
                    "allowed": decision.allowed,
                    "retry_after_secs": decision.retry_after_secs,
                    "window": window,
                }));
            }
            "/refund" => {
                let window = req
                    .url()?
                    .query_pairs()
                    .find(|(k, _)| k == "window")
                    .and_then(|(_, v)| v.parse::<i64>().ok());
                let lockout: Option<Lockout> = storage.get("lockout").await?;
                if let (Some(w), Some(next)) = (window, lockout) {
                    if let Some(next) = Lockout::refund(Some(next), w) {
                        storage.put("lockout", next).await?;
                    }
                }
                Decision {
                    allowed: true,
                    retry_after_secs: 0,
                }
            }
            _ => return Response::error("unknown rate limiter operation", 404),
        };
        Response::from_json(&decision)
    }
}
