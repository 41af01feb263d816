//! `RateLimiter` Durable Object: one instance per bucket name (`key:<id>` or `ip:<addr>`), so a
//! limit holds across every isolate. A thin shell over `domain::ratelimit::take`; the bucket is
//! persisted before the answer, and requests to one object are serialised by the runtime.

use crate::domain::ratelimit::{take, Bucket};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

#[durable_object]
pub struct RateLimiter {
    state: State,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    /// `POST /take?per_minute=N` → `{allowed, retry_after_secs}`.
    async fn fetch(&self, req: Request) -> Result<Response> {
        let url = req.url()?;
        let per_minute = url
            .query_pairs()
            .find(|(k, _)| k == "per_minute")
            .and_then(|(_, v)| v.parse::<u32>().ok())
            .unwrap_or(60);
        let storage = self.state.storage();
        let bucket: Option<Bucket> = storage.get("bucket").await?;
        let now = worker::Date::now().as_millis() as i64;
        let (bucket, decision) = take(bucket, per_minute, now);
        storage.put("bucket", bucket).await?;
        Response::from_json(&decision)
    }
}
