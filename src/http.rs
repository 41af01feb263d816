//! Request plumbing for the fetch surface: `RequestMeta` (the request-bound facts: request id and
//! client bucket, set by the entry point), the app state handlers receive, bounded body reading,
//! query parameters, typed path parameters (`PathId`) and JSON responses.

use super::services::Services;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::api::path::PathParam;
use parityrail_core::api::routes::Route;
use parityrail_core::domain::ids::RequestId;
use parityrail_core::domain::input::{self, InputError, MAX_BODY_BYTES};
use parityrail_core::domain::ports::OsRng;
use parityrail_core::domain::ratelimit::client_bucket;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use worker::Context;

/// The state every fetch handler gets: the services and the request's execution context.
#[derive(Clone)]
pub struct App {
    pub svc: Arc<Services>,
    pub wctx: Arc<Context>,
}

/// Facts bound to one request, not to the environment.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    /// The client's rate-limit bucket (`ip:<v4>`, `ip6:<prefix>::/64`, or `ip:unknown`).
    pub client_bucket: String,
}

impl RequestMeta {
    pub fn new(headers: &HeaderMap) -> Self {
        let request_id = RequestId::generate(&mut OsRng)
            .map(|r| r.to_string())
            .unwrap_or_else(|_| "req_unavailable".to_owned());
        let ip = headers
            .get("cf-connecting-ip")
            .and_then(|v| v.to_str().ok());
        RequestMeta {
            request_id,
            client_bucket: client_bucket(ip),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        meta(parts)
    }
}

pub fn meta(parts: &Parts) -> ApiResult<RequestMeta> {
    parts
        .extensions
        .get::<RequestMeta>()
        .cloned()
        .ok_or_else(|| ApiError::internal("request without RequestMeta"))
}

/// The raw request body, read up to `MAX_BODY_BYTES` (refused early on a larger
/// `Content-Length`, and as soon as a streamed body grows past it). Parsed by the handler, after
/// authentication and tenancy, with `json`.
pub struct RawBody(pub Vec<u8>);

impl RawBody {
    pub fn json<T: DeserializeOwned>(&self) -> ApiResult<T> {
        Ok(input::parse_json(&self.0)?)
    }
}

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(InputError::TooLarge.into());
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::from(InputError::TooLarge))?;
        Ok(RawBody(bytes.to_vec()))
    }
}

/// The request's query string, as the handlers that page need it.
pub struct Query(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Query(parts.uri.query().map(str::to_owned)))
    }
}

impl Query {
    pub fn get(&self, name: &str) -> Option<String> {
        parityrail_core::api::query::query_param(self.0.as_deref(), name)
    }

    /// The raw query string.
    pub fn raw(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

pub fn json<T: Serialize>(status: u16, value: &T) -> ApiResult<Response> {
    let body = serde_json::to_vec(value).map_err(|e| ApiError::internal(e.to_string()))?;
    respond(status, "application/json", body)
}

pub fn text(body: String) -> ApiResult<Response> {
    respond(200, "text/plain; charset=utf-8", body.into_bytes())
}

fn respond(status: u16, content_type: &str, body: Vec<u8>) -> ApiResult<Response> {
    Response::builder()
        .status(StatusCode::from_u16(status).map_err(|e| ApiError::internal(e.to_string()))?)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// `{"data": [...], "next_cursor": ...}` for lists.
pub fn page<T: Serialize>(data: Vec<T>, next_cursor: Option<String>) -> ApiResult<Response> {
    json(
        200,
        &serde_json::json!({"data": data, "next_cursor": next_cursor}),
    )
}

/// The path parameter `T::NAME` of the matched route, parsed (`api::path`): one that does not
/// parse is `404` for `T::WHAT` before the handler runs, like an id that names nothing. Placed
/// after the principal or project extractor in a handler's arguments, so authentication and
/// tenancy answer first.
pub struct PathId<T>(pub T);

impl<S: Send + Sync, T: PathParam> FromRequestParts<S> for PathId<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let value = path_param(parts, state, T::NAME).await?;
        T::parse(&value)
            .map(PathId)
            .ok_or_else(|| ApiError::not_found(T::WHAT))
    }
}

/// The route a request matched and its path parameters (percent-decoded; `None` for one that
/// is not UTF-8 once decoded), put in its extensions by the router.
#[derive(Clone)]
pub struct Params {
    pub route: Route,
    pub params: Vec<(&'static str, Option<String>)>,
}

/// The route a request matched, as a handler's argument.
pub struct Matched(pub Route);

impl<S: Send + Sync> FromRequestParts<S> for Matched {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        matched(parts).map(Matched)
    }
}

/// The route a request matched.
pub fn matched(parts: &Parts) -> ApiResult<Route> {
    parts
        .extensions
        .get::<Params>()
        .map(|p| p.route)
        .ok_or_else(|| ApiError::internal("a request outside a declared route"))
}

/// The raw value of the matched route's parameter `name`. A path segment that does not decode
/// as UTF-8 names nothing (`404`); a route declared without `{name}` is ours to fix (`500`).
pub async fn path_param<S: Send + Sync>(
    parts: &mut Parts,
    _state: &S,
    name: &str,
) -> ApiResult<String> {
    let p = parts
        .extensions
        .get::<Params>()
        .ok_or_else(|| ApiError::internal("a request outside a declared route"))?;
    match p.params.iter().find(|(k, _)| *k == name) {
        Some((_, Some(v))) => Ok(v.clone()),
        Some((_, None)) => Err(ApiError::no_route()),
        None => Err(ApiError::internal(format!("route has no {{{name}}}"))),
    }
}
