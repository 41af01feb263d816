//! The edge side of errors: an `ApiError` becomes a response that carries the error itself (in
//! the response's extensions, with an empty body), and the entry point renders it once it knows
//! the request id and the surface (JSON for the REST API; JSON-RPC and HTML surfaces render the
//! same error their way). Platform errors become opaque internal errors (`Fault::Internal` or
//! `ApiError::internal`) here.

use crate::api::error::ApiError;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = status.into_response();
        res.extensions_mut().insert(self);
        res
    }
}

/// Renders an error response left by a handler or extractor as the SPEC §12 JSON body (with
/// `Retry-After` when set), and returns the error for the log line.
pub fn render_json(res: &mut Response, request_id: &str) -> Option<ApiError> {
    let err = res.extensions_mut().remove::<ApiError>()?;
    let body = err.to_json(request_id).to_string();
    *res.body_mut() = axum::body::Body::from(body);
    let headers = res.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(secs) = err.retry_after {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            headers.insert(axum::http::header::RETRY_AFTER, v);
        }
    }
    Some(err)
}

/// Platform failures (D1, bindings, serialisation) are internal: logged, never shown.
pub fn platform(e: worker::Error) -> ApiError {
    ApiError::internal(e.to_string())
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        platform(e)
    }
}

impl From<worker::Error> for crate::fault::Fault {
    /// Platform failures (D1, bindings, serialisation) are internal: logged, never shown.
    fn from(e: worker::Error) -> Self {
        crate::fault::Fault::Internal(e.to_string())
    }
}
