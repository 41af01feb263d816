//! The one error every surface renders (SPEC §12). Domain and adapter errors stay typed enums;
//! their mapping to a status and a stable snake_case code lives here, once (`From` impls). The
//! same error renders as the JSON body of the REST API, a JSON-RPC error (MCP), or an HTML page
//! (dashboard). An internal error carries its detail for the log line only; every rendering of
//! it is opaque.

use crate::domain::access::AccessDenied;
use crate::domain::input::InputError;
use crate::domain::ports::RandomError;
use crate::domain::roles::Denied;
use crate::pg::PgErrorKind;
use crate::stripe::{PaginationFault, StripeError};
use serde_json::{json, Value};
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: Cow<'static, str>,
    pub message: String,
    pub field: Option<String>,
    pub retry_after: Option<u32>,
    /// One id the caller needs to act on the error (`run_id` of the run already going), rendered
    /// beside `code`.
    pub related: Option<(&'static str, String)>,
    /// Logged with the request id, never rendered.
    pub detail: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// An error as it crosses from a Durable Object back to the worker that called it: what a client
/// may see (the detail stays in the object's log).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Relayed {
    status: u16,
    code: String,
    message: String,
    field: Option<String>,
    retry_after: Option<u32>,
}

impl From<&ApiError> for Relayed {
    fn from(e: &ApiError) -> Self {
        Relayed {
            status: e.status,
            code: e.code.to_string(),
            message: e.message.clone(),
            field: e.field.clone(),
            retry_after: e.retry_after,
        }
    }
}

impl From<Relayed> for ApiError {
    fn from(r: Relayed) -> Self {
        ApiError {
            status: r.status,
            code: Cow::Owned(r.code),
            message: r.message,
            field: r.field,
            retry_after: r.retry_after,
            related: None,
            detail: None,
        }
    }
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: Cow::Borrowed(code),
            message: message.into(),
            field: None,
            retry_after: None,
            related: None,
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

    pub fn no_route() -> Self {
        ApiError::new(404, "no_route", "no such route")
    }

    pub fn method_not_allowed() -> Self {
        ApiError::new(
            405,
            "method_not_allowed",
            "method not allowed on this route",
        )
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

    pub fn unavailable(code: &'static str, message: &str, retry_after: u32) -> Self {
        let mut e = ApiError::new(503, code, message);
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

    /// `{"error": {"code", "message", "request_id", "field"?}}` — the REST body.
    pub fn to_json(&self, request_id: &str) -> Value {
        let mut body =
            json!({"code": self.code, "message": self.message, "request_id": request_id});
        if let Some(field) = &self.field {
            body["field"] = json!(field);
        }
        if let Some((name, id)) = &self.related {
            body[*name] = json!(id);
        }
        json!({ "error": body })
    }

    /// A JSON-RPC 2.0 error response for request `id` (MCP): the HTTP-level meaning goes in
    /// `data`, the JSON-RPC code says whether the call itself was at fault.
    pub fn to_jsonrpc(&self, id: &Value, request_id: &str) -> Value {
        let code = match self.status {
            400 | 413 => -32602, // invalid params
            404 => -32601,       // no such method / object
            500 => -32603,       // internal error
            _ => -32000,         // server error: auth, role, conflict, rate limit
        };
        let mut data = json!({"status": self.status, "code": self.code, "request_id": request_id});
        if let Some(field) = &self.field {
            data["field"] = json!(field);
        }
        if let Some((name, id)) = &self.related {
            data[*name] = json!(id);
        }
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": self.message, "data": data}})
    }

    /// A minimal HTML page (dashboard), every dynamic part escaped.
    pub fn to_html(&self, request_id: &str) -> String {
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{status} · ParityRail</title></head>\
             <body><main><h1>{status}</h1><p>{message}</p><p><small>code {code} · request {rid}</small></p></main></body></html>",
            status = self.status,
            message = html_escape(&self.message),
            code = html_escape(&self.code),
            rid = html_escape(request_id),
        )
    }
}

/// Escapes text for an HTML element or a quoted attribute.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl From<StripeError> for ApiError {
    /// Stripe failures: a key Stripe refuses is the caller's (400 on `api_key`); everything
    /// else is Stripe's (502/503/504), never a 500 of ours.
    fn from(e: StripeError) -> Self {
        let (status, code) = match e {
            StripeError::Unauthorized => (400, "stripe_key_rejected"),
            StripeError::Forbidden => (400, "stripe_permission_missing"),
            StripeError::Unreachable => (502, "stripe_unreachable"),
            StripeError::Timeout | StripeError::Pagination(PaginationFault::TooSlow) => {
                (504, "stripe_timeout")
            }
            StripeError::RateLimited => (503, "stripe_rate_limited"),
            StripeError::Server(_) | StripeError::Client(_) => (502, "stripe_error"),
            StripeError::Malformed | StripeError::TooLarge | StripeError::Pagination(_) => {
                (502, "stripe_bad_response")
            }
        };
        let mut err = ApiError::new(status, code, e.to_string());
        if status == 400 {
            err.field = Some("api_key".to_owned());
        }
        if e == StripeError::RateLimited {
            err.retry_after = Some(30);
        }
        err
    }
}

/// The code and message of a database failure (reported inside a `200` by the connection test,
/// and as the error of the routes that read the app database).
pub fn database_error(kind: PgErrorKind) -> (&'static str, &'static str) {
    match kind {
        PgErrorKind::Unreachable => (
            "database_unreachable",
            "the database could not be reached or dropped the connection",
        ),
        PgErrorKind::AuthFailed => (
            "database_auth_failed",
            "the database refused the user or password",
        ),
        PgErrorKind::NoDatabase => (
            "database_not_found",
            "the database named in the URL does not exist",
        ),
        PgErrorKind::TlsUnsupported => (
            "database_tls_unsupported",
            "the database refused TLS: sslmode=require (the default) needs a server with ssl = on",
        ),
        PgErrorKind::TlsUntrusted => (
            "database_tls_untrusted",
            "the TLS handshake failed: the database's certificate was not accepted (it must chain to \
             a publicly trusted CA, be within its validity period and name the host in the URL)",
        ),
        PgErrorKind::Timeout => ("database_timeout", "the database did not answer in time"),
        PgErrorKind::NotReadOnly => (
            "database_not_read_only",
            "the session could not be made read-only",
        ),
        PgErrorKind::Schema => (
            "database_schema",
            "a mapped table or column is missing or not readable",
        ),
        PgErrorKind::UnsupportedType => (
            "database_unsupported_type",
            "a mapped column has an unsupported type",
        ),
        PgErrorKind::Locked => (
            "database_row_locked",
            "another session held the row's lock past the lock timeout; nothing was written",
        ),
        PgErrorKind::NotPermitted => (
            "database_not_permitted",
            "the repair role may not update the mapped table or column: grant it UPDATE on the mapped columns",
        ),
        PgErrorKind::Query => ("database_error", "the database returned an error"),
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
            AccessDenied::OwnerOverride | AccessDenied::OneOwner => {
                ApiError::conflict("owner_required", d.to_string())
            }
            AccessDenied::TargetAboveCaller
            | AccessDenied::NotAboveTarget
            | AccessDenied::OrgAdminRequired
            | AccessDenied::GrantAboveCaller
            | AccessDenied::OwnerOnly
            | AccessDenied::AdminOnly => ApiError::forbidden("insufficient_role", d.to_string()),
        }
    }
}

impl From<RandomError> for ApiError {
    fn from(e: RandomError) -> Self {
        ApiError::internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_renders_opaquely_on_every_surface() {
        let e = ApiError::internal("SELECT secret FROM vault failed: pr_live_abc");
        let rid = "req_x";
        for text in [
            e.to_json(rid).to_string(),
            e.to_jsonrpc(&json!(7), rid).to_string(),
            e.to_html(rid),
        ] {
            assert!(!text.contains("secret"), "{text}");
            assert!(!text.contains("pr_live"), "{text}");
            assert!(text.contains("req_x"));
            assert!(text.contains("internal_error"));
        }
    }

    #[test]
    fn the_json_body_has_the_documented_shape() {
        let e = ApiError::bad_field("name", "must be 1 to 100 printable characters");
        assert_eq!(
            e.to_json("req_1"),
            json!({"error": {"code": "invalid_field", "message": "must be 1 to 100 printable characters", "request_id": "req_1", "field": "name"}})
        );
    }

    #[test]
    fn a_json_rpc_error_keeps_the_id_and_says_what_http_would_have() {
        let v = ApiError::forbidden("read_only_key", "read only").to_jsonrpc(&json!("a"), "req_2");
        assert_eq!(v["id"], json!("a"));
        assert_eq!(v["error"]["code"], json!(-32000));
        assert_eq!(v["error"]["data"]["status"], json!(403));
        assert_eq!(v["error"]["data"]["code"], json!("read_only_key"));
        assert_eq!(
            ApiError::bad_field("x", "y").to_jsonrpc(&json!(1), "r")["error"]["code"],
            json!(-32602)
        );
    }

    #[test]
    fn the_html_page_escapes_everything_dynamic() {
        let e = ApiError::new(400, "invalid_field", "<script>alert('x')</script> & \"q\"");
        let html = e.to_html("req_<3>");
        assert!(!html.contains("<script>"));
        assert!(
            html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;")
        );
        assert!(html.contains("req_&lt;3&gt;"));
    }

    #[test]
    fn access_rules_map_to_stable_codes() {
        assert_eq!(
            ApiError::from(AccessDenied::LiveKeyRequired).code,
            "wrong_environment"
        );
        assert_eq!(ApiError::from(AccessDenied::OwnerOverride).status, 409);
        assert_eq!(ApiError::from(Denied::Capability).code, "read_only_key");
        assert_eq!(ApiError::from(InputError::TooLarge).status, 413);
    }
}
