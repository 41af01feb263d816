//! Request plumbing: the per-request context (request id, clock, client IP, bindings), bounded
//! body reading, query parameters and JSON responses.

use super::error::{ApiError, ApiResult};
use crate::domain::ids::RequestId;
use crate::domain::input::{self, MAX_BODY_BYTES};
use crate::domain::ports::OsRng;
use crate::domain::ratelimit::client_bucket;
use crate::domain::time::Timestamp;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{Context, Env, Request, Response};

pub struct Ctx {
    pub env: Env,
    pub wctx: Context,
    pub request_id: String,
    pub now: Timestamp,
    /// The client's rate-limit bucket (`ip:<v4>`, `ip6:<prefix>::/64`, or `ip:unknown`).
    pub client_bucket: String,
}

impl Ctx {
    pub fn new(env: Env, wctx: Context, req: &Request) -> Self {
        let request_id = RequestId::generate(&mut OsRng)
            .map(|r| r.to_string())
            .unwrap_or_else(|_| "req_unavailable".to_owned());
        let client_ip = req.headers().get("cf-connecting-ip").ok().flatten();
        let client_bucket = client_bucket(client_ip.as_deref());
        Ctx {
            env,
            wctx,
            request_id,
            now: now(),
            client_bucket,
        }
    }

    /// A plain-text variable (wrangler `[vars]` or a secret), if set and non-empty.
    pub fn var(&self, name: &str) -> Option<String> {
        env_var(&self.env, name)
    }

    pub fn var_u32(&self, name: &str, default: u32) -> u32 {
        self.var(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
}

pub fn env_var(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.is_empty())
}

pub fn now() -> Timestamp {
    Timestamp::from_millis(worker::Date::now().as_millis() as i64)
}

/// Reads at most `MAX_BODY_BYTES`, refusing early on a larger `Content-Length` and stopping a
/// streamed body as soon as it grows past the limit.
pub async fn read_body(req: &mut Request) -> ApiResult<Vec<u8>> {
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(input::InputError::TooLarge.into());
    }
    let mut out = Vec::new();
    let Ok(mut stream) = req.stream() else {
        return Ok(out);
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::internal(format!("reading body: {e}")))?;
        if out.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(input::InputError::TooLarge.into());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

pub async fn json_body<T: DeserializeOwned>(req: &mut Request) -> ApiResult<T> {
    let bytes = read_body(req).await?;
    Ok(input::parse_json(&bytes)?)
}

pub fn query_param(req: &Request, name: &str) -> Option<String> {
    let url = req.url().ok()?;
    let value = url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned());
    value
}

pub fn json<T: Serialize>(status: u16, value: &T) -> ApiResult<Response> {
    Ok(Response::from_json(value)?.with_status(status))
}

/// `{"data": [...], "next_cursor": ...}` for lists.
pub fn page<T: Serialize>(data: Vec<T>, next_cursor: Option<String>) -> ApiResult<Response> {
    json(
        200,
        &serde_json::json!({"data": data, "next_cursor": next_cursor}),
    )
}
