//! The adapter side of errors: an `ApiError` became a response that carries the error itself (in
//! the response's extensions, with an empty body), and the entry point renders it once it knows
//! the request id and the surface (JSON for the REST API; JSON-RPC and HTML surfaces render the
//! same error their way). Platform errors become opaque internal errors (`Fault::Internal` or
//! `ApiError::internal`) here.

use axum::http::HeaderValue;
use axum::response::Response;
use parityrail_core::api::error::ApiError;

/// Which rendering an error response gets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The SPEC §12 JSON body.
    Api,
    /// A JSON-RPC error without an id (`/mcp`: the error came before the request was read).
    JsonRpc,
}

/// Renders an error response left by a handler or extractor for its surface (with
/// `Retry-After` when set), and returns the error for the log line.
pub fn render_json(res: &mut Response, request_id: &str, surface: Surface) -> Option<ApiError> {
    let err = res.extensions_mut().remove::<ApiError>()?;
    let body = match surface {
        Surface::Api => err.to_json(request_id),
        Surface::JsonRpc => err.to_jsonrpc(request_id),
    }
    .to_string();
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
pub(crate) trait OrInternal<T> {
    fn or_internal(self) -> Result<T, parityrail_core::fault::Fault>;
}

impl<T> OrInternal<T> for Result<T, worker::Error> {
    fn or_internal(self) -> Result<T, parityrail_core::fault::Fault> {
        self.map_err(|e| parityrail_core::fault::Fault::Internal(e.to_string()))
    }
}
