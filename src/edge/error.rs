//! The one error → HTTP mapping. Every error body is
//! `{"error": {"code", "message", "request_id", "field"?}}`; codes are stable snake_case.
//! Internal errors keep their detail for the log line only and answer an opaque 500.

use crate::domain::access::AccessDenied;
use crate::domain::input::InputError;
use crate::domain::roles::Denied;
use serde_json::json;
use worker::{Headers, Response};

#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub retry_after: Option<u32>,
    /// Logged with the request id, never returned.
    pub detail: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            detail: None,
        }
    }

    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        let mut e = ApiError::new(400, "invalid_field", message);
        e.field = Some(field.to_owned());
        e
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::new(404, "not_found", format!("{what} not found"))
    }

    pub fn unauthorized(code: &'static str, message: &str) -> Self {
        ApiError::new(401, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(403, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(409, code, message)
    }

    pub fn rate_limited(retry_after: u32) -> Self {
        let mut e = ApiError::new(429, "rate_limited", "too many requests; retry later");
        e.retry_after = Some(retry_after.max(1));
        e
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        let mut e = ApiError::new(
            500,
            "internal_error",
            "internal error; quote the request id",
        );
        e.detail = Some(detail.into());
        e
    }

    pub fn into_response(self, request_id: &str) -> Response {
        let mut body =
            json!({"code": self.code, "message": self.message, "request_id": request_id});
        if let Some(field) = &self.field {
            body["field"] = json!(field);
        }
        let headers = Headers::new();
        let _ = headers.set("content-type", "application/json");
        if let Some(secs) = self.retry_after {
            let _ = headers.set("retry-after", &secs.to_string());
        }
        let text = json!({ "error": body }).to_string();
        match Response::ok(text) {
            Ok(r) => r.with_status(self.status).with_headers(headers),
            Err(_) => Response::empty()
                .map(|r| r.with_status(500))
                .unwrap_or_else(|_| unreachable_response()),
        }
    }
}

fn unreachable_response() -> Response {
    // Response::empty() cannot fail in practice; keep a total function anyway.
    Response::builder().with_status(500).empty()
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        ApiError::internal(e.to_string())
    }
}

impl From<InputError> for ApiError {
    fn from(e: InputError) -> Self {
        match e {
            InputError::TooLarge => ApiError::new(413, "payload_too_large", e.to_string()),
            InputError::InvalidUtf8 => ApiError::new(400, "invalid_utf8", e.to_string()),
            InputError::InvalidJson => ApiError::new(400, "invalid_json", e.to_string()),
            InputError::InvalidField { field, message } => ApiError::bad_field(&field, message),
        }
    }
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> Self {
        let code = match d {
            Denied::Capability => "read_only_key",
            Denied::NeedsAdmin | Denied::NeedsOwner => "insufficient_role",
        };
        ApiError::forbidden(code, d.to_string())
    }
}

impl From<AccessDenied> for ApiError {
    fn from(d: AccessDenied) -> Self {
        match d {
            AccessDenied::LiveKeyRequired => {
                ApiError::forbidden("wrong_environment", d.to_string())
            }
            AccessDenied::OwnerOverride => ApiError::conflict("owner_required", d.to_string()),
            AccessDenied::TargetAboveCaller
            | AccessDenied::NotAboveTarget
            | AccessDenied::OrgAdminRequired
            | AccessDenied::GrantAboveCaller => {
                ApiError::forbidden("insufficient_role", d.to_string())
            }
        }
    }
}

impl From<crate::domain::ports::RandomError> for ApiError {
    fn from(e: crate::domain::ports::RandomError) -> Self {
        ApiError::internal(e.to_string())
    }
}
