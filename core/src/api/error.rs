//! The one error every surface renders (SPEC §12). Domain and adapter errors stay typed enums
//! that carry their own stable snake_case codes and messages (`Fault::code`, `StripeError::code`,
//! `InputError::code`, `PgErrorKind::describe`); what this module adds is the HTTP status, once
//! (`From` impls), and the access rules' codes. The
//! same error renders as the JSON body of the REST API, a JSON-RPC error (MCP), or an HTML page
//! (dashboard). An internal error carries its detail for the log line only; every rendering of
//! it is opaque.

use crate::domain::access::{AccessDenied, RotationError};
use crate::domain::input::InputError;
use crate::domain::ports::RandomError;
use crate::domain::roles::Denied;
use crate::fault::Fault;
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

/// As a response, an `ApiError` carries itself (in the response's extensions, with an empty
/// body): the adapter's entry point renders it once it knows the request id and the surface
/// (JSON for the REST API; other surfaces render the same error their way).
#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for ApiError {
    fn into_response(self) -> axum_core::response::Response {
        let status = http::StatusCode::from_u16(self.status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = status.into_response();
        res.extensions_mut().insert(self);
        res
    }
}

pub use crate::fault::BAD_KEY;

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

    /// A dashboard session that is over (or a cookie that opens none).
    pub fn session_expired() -> Self {
        ApiError::new(
            401,
            "session_expired",
            "the session has ended; sign in again",
        )
    }

    /// A `Session` route without a session cookie.
    pub fn missing_session() -> Self {
        ApiError::new(401, "missing_session", "sign in to the dashboard first")
    }

    /// An e-mailed link that is unknown, used, expired or not this session's.
    pub fn invalid_link() -> Self {
        ApiError::new(
            401,
            "invalid_link",
            "this link is unknown, already used or expired; ask for a new one",
        )
    }

    /// A change from a session without its CSRF token or the site's own `Origin`.
    pub fn csrf_failed() -> Self {
        ApiError::new(
            403,
            "csrf_failed",
            "a change from a dashboard session needs its CSRF token and the site's own Origin",
        )
    }

    /// A sign-in from another origin.
    pub fn bad_origin() -> Self {
        ApiError::new(
            403,
            "bad_origin",
            "sign-in is accepted only from the dashboard's own origin",
        )
    }

    /// A change from an e-mail session before its step-up.
    pub fn step_up_required() -> Self {
        ApiError::new(
            403,
            "step_up_required",
            "confirm this change by e-mail first: POST /v1/session/step-up sends a link",
        )
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

    /// A JSON-RPC 2.0 error response (MCP) for an error met before the request was read (an
    /// API key refused, a rate limit, a refused `Origin`, a method other than `POST`): no id is
    /// known, the HTTP status stays the API's and is repeated in `data` with the stable code.
    pub fn to_jsonrpc(&self, request_id: &str) -> Value {
        let code = match self.status {
            400 | 413 => -32600, // invalid request
            500 => -32603,       // internal error
            _ => -32000,         // server error: authentication, rate limit, origin, method
        };
        let mut data = json!({"status": self.status, "code": self.code, "request_id": request_id});
        if let Some(field) = &self.field {
            data["field"] = json!(field);
        }
        json!({"jsonrpc": "2.0", "error": {"code": code, "message": self.message, "data": data}})
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
        let status = match e {
            StripeError::Unauthorized | StripeError::Forbidden => 400,
            StripeError::Timeout | StripeError::Pagination(PaginationFault::TooSlow) => 504,
            StripeError::RateLimited => 503,
            _ => 502,
        };
        let code = e.code();
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

/// An engine's `Fault` as a client sees it: its status here, its code, message and log detail
/// from the fault itself (`Fault::code`, `message`, `detail`), so a run's stored error and the
/// HTTP answer say the same.
impl From<Fault> for ApiError {
    fn from(f: Fault) -> Self {
        let status = match &f {
            Fault::Stripe(e) => return ApiError::from(*e),
            Fault::Input(e) => return ApiError::from(e.clone()),
            Fault::NotFound(_) => 404,
            Fault::CallerRevoked => 401,
            Fault::StripePagination | Fault::Database(_) => 502,
            Fault::CoordinatorUnavailable(_) | Fault::LimiterUnavailable(_) => 503,
            Fault::Internal(_) => 500,
            Fault::MappingMissing
            | Fault::IntegrationMissing(_)
            | Fault::ProjectGone
            | Fault::DuplicateAppRows
            | Fault::RunInProgress(_)
            | Fault::ExportsInProgress(_)
            | Fault::ExportRunning
            | Fault::ChainNotIntact(_)
            | Fault::Repair(_)
            | Fault::IncidentNotOpen
            | Fault::AuditContention
            | Fault::CallerChanged
            | Fault::MemberExists => 409,
        };
        let mut e = ApiError {
            status,
            code: f.code(),
            message: f.message(),
            field: None,
            retry_after: (status == 503).then_some(5),
            related: None,
            detail: f.detail(),
        };
        if let Fault::RunInProgress(Some(going)) = f {
            e.related = Some(("run_id", going));
        }
        e
    }
}

impl From<RotationError> for ApiError {
    fn from(e: RotationError) -> Self {
        match e {
            RotationError::GraceTooLong => ApiError::bad_field("grace_seconds", e.to_string()),
            RotationError::Inactive => ApiError::conflict("key_inactive", e.to_string()),
        }
    }
}

impl From<InputError> for ApiError {
    fn from(e: InputError) -> Self {
        let status = if e == InputError::TooLarge { 413 } else { 400 };
        let mut err = ApiError::new(status, e.code(), e.message());
        if let InputError::InvalidField { field, .. } = e {
            err.field = Some(field);
        }
        err
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
            AccessDenied::OwnerOverride | AccessDenied::OneOwner | AccessDenied::OwnerRemoval => {
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
            e.to_jsonrpc(rid).to_string(),
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
    fn a_json_rpc_error_has_no_id_and_says_what_http_would_have() {
        let v = ApiError::forbidden("read_only_key", "read only").to_jsonrpc("req_2");
        assert_eq!(v.get("id"), None);
        assert_eq!(v["error"]["code"], json!(-32000));
        assert_eq!(v["error"]["data"]["status"], json!(403));
        assert_eq!(v["error"]["data"]["code"], json!("read_only_key"));
        assert_eq!(
            ApiError::bad_field("x", "y").to_jsonrpc("r")["error"]["code"],
            json!(-32600)
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
    fn every_fault_maps_to_one_status_and_code() {
        use crate::fault::RepairRefusal;
        use crate::pg::{PgError, PgErrorKind};
        let cases: Vec<(Fault, u16, &str)> = vec![
            (Fault::MappingMissing, 409, "mapping_missing"),
            (
                Fault::IntegrationMissing("Stripe"),
                409,
                "integration_missing",
            ),
            (Fault::ProjectGone, 409, "project_gone"),
            (Fault::DuplicateAppRows, 409, "duplicate_app_rows"),
            (Fault::NotFound("repair"), 404, "not_found"),
            (Fault::RunInProgress(None), 409, "run_in_progress"),
            (
                Fault::RunInProgress(Some("run_x".into())),
                409,
                "run_in_progress",
            ),
            (Fault::ExportsInProgress(3), 409, "exports_in_progress"),
            (Fault::ExportRunning, 409, "export_running"),
            (
                Fault::ChainNotIntact("entry 4".into()),
                409,
                "chain_not_intact",
            ),
            (
                Fault::Repair(RepairRefusal::NotPending("executed")),
                409,
                "repair_not_pending",
            ),
            (
                Fault::Repair(RepairRefusal::Changed),
                409,
                "repair_not_pending",
            ),
            (
                Fault::Repair(RepairRefusal::NotExecutable("x".into())),
                409,
                "repair_not_executable",
            ),
            (
                Fault::Repair(RepairRefusal::NeedsAPerson),
                409,
                "repair_needs_a_person",
            ),
            (
                Fault::Repair(RepairRefusal::AutomaticOff),
                409,
                "repair_needs_a_person",
            ),
            (Fault::IncidentNotOpen, 409, "incident_not_open"),
            (Fault::AuditContention, 409, "audit_contention"),
            (Fault::CallerChanged, 409, "caller_changed"),
            (Fault::CallerRevoked, 401, "invalid_api_key"),
            (Fault::MemberExists, 409, "member_exists"),
            (
                Fault::Stripe(StripeError::Unreachable),
                502,
                "stripe_unreachable",
            ),
            (Fault::StripePagination, 502, "stripe_pagination"),
            (
                Fault::Database(PgError {
                    kind: PgErrorKind::TlsUnsupported,
                    sqlstate: None,
                }),
                502,
                "database_tls_unsupported",
            ),
            (
                Fault::CoordinatorUnavailable("answered 500".into()),
                503,
                "coordinator_unavailable",
            ),
            (
                Fault::LimiterUnavailable("down".into()),
                503,
                "rate_limiter_unavailable",
            ),
            (Fault::Input(InputError::TooLarge), 413, "payload_too_large"),
            (Fault::internal("D1 said pr_live_x"), 500, "internal_error"),
        ];
        for (fault, status, code) in cases {
            let e = ApiError::from(fault.clone());
            assert_eq!((e.status, e.code.as_ref()), (status, code), "{fault:?}");
            assert!(!e.message.contains("pr_live"), "{fault:?}");
            // What a run stores (the fault's own code and message) is what a client is told.
            assert_eq!(
                (fault.code(), fault.message()),
                (e.code.clone(), e.message.clone())
            );
        }
        assert_eq!(
            ApiError::from(Fault::Repair(crate::fault::RepairRefusal::NotPending(
                "executed"
            )))
            .message,
            "the repair is executed; only a pending repair can be approved or rejected"
        );
        assert_eq!(
            ApiError::from(Fault::CoordinatorUnavailable("x".into())).retry_after,
            Some(5)
        );
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
        assert_eq!(
            ApiError::from(AccessDenied::OwnerRemoval).code,
            "owner_required"
        );
        assert_eq!(ApiError::from(RotationError::Inactive).status, 409);
        assert_eq!(
            ApiError::from(RotationError::GraceTooLong).field.as_deref(),
            Some("grace_seconds")
        );
    }
}
