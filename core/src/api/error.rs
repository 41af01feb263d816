//! The one error every surface renders (SPEC §12). Domain and adapter errors stay typed enums;
//! their mapping to a status and a stable snake_case code lives here, once (`From` impls). The
//! same error renders as the JSON body of the REST API, a JSON-RPC error (MCP), or an HTML page
//! (dashboard). An internal error carries its detail for the log line only; every rendering of
//! it is opaque.

use crate::domain::access::{AccessDenied, RotationError};
use crate::domain::input::InputError;
use crate::domain::ports::RandomError;
use crate::domain::roles::Denied;
use crate::fault::{Fault, RepairRefusal};
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

/// What a caller whose key is unknown, revoked or expired is told.
pub const BAD_KEY: &str = "the API key is not valid (unknown, revoked or expired)";

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

/// The one mapping of an engine's `Fault` to what a client is told: status, stable code and
/// message (internal detail kept for the log line only).
impl From<Fault> for ApiError {
    fn from(f: Fault) -> Self {
        match f {
            Fault::MappingMissing => {
                ApiError::conflict("mapping_missing", "configure the mapping first")
            }
            Fault::IntegrationMissing(what) => ApiError::conflict(
                "integration_missing",
                format!("configure the {what} integration first"),
            ),
            Fault::ProjectGone => ApiError::conflict("project_gone", "the project was deleted"),
            Fault::DuplicateAppRows => ApiError::conflict(
                "duplicate_app_rows",
                "the app table has more than one row for this customer; nothing was decided",
            ),
            Fault::NotFound(what) => ApiError::not_found(what),
            Fault::RunInProgress(None) => ApiError::conflict(
                "run_in_progress",
                "a full run of this project is already going; watch it or wait for it to finish",
            ),
            Fault::RunInProgress(Some(going)) => {
                let mut e = ApiError::conflict(
                    "run_in_progress",
                    format!("run {going} of this project is going"),
                );
                e.related = Some(("run_id", going));
                e
            }
            Fault::ExportsInProgress(n) => ApiError::conflict(
                "exports_in_progress",
                format!("{n} exports of this project are being written; wait for one to finish"),
            ),
            Fault::ExportRunning => ApiError::conflict(
                "export_running",
                "the export is still being written; read its status again shortly",
            ),
            Fault::ChainNotIntact(why) => {
                let mut e = ApiError::conflict("chain_not_intact", why.clone());
                e.detail = Some(why);
                e
            }
            Fault::Repair(r) => {
                let (code, message) = match r {
                    RepairRefusal::NotPending(status) => (
                        "repair_not_pending",
                        format!(
                            "the repair is {status}; only a pending repair can be approved or rejected"
                        ),
                    ),
                    RepairRefusal::ApprovalRunning => (
                        "repair_not_pending",
                        "another approval of this repair is running".to_owned(),
                    ),
                    RepairRefusal::TakenOver => (
                        "repair_not_pending",
                        "this approval was taken over; read the repair again".to_owned(),
                    ),
                    RepairRefusal::Changed => (
                        "repair_not_pending",
                        "the repair changed while this request ran; read it again".to_owned(),
                    ),
                    RepairRefusal::NotExecutable(why) => ("repair_not_executable", why),
                    RepairRefusal::NeedsAPerson => (
                        "repair_needs_a_person",
                        "only grants are approved automatically".to_owned(),
                    ),
                    RepairRefusal::AutomaticOff => (
                        "repair_needs_a_person",
                        "the project no longer approves grants automatically".to_owned(),
                    ),
                };
                ApiError::conflict(code, message)
            }
            Fault::IncidentNotOpen => ApiError::conflict(
                "incident_not_open",
                "the repair's incident is no longer open; check the customer again",
            ),
            Fault::AuditContention => {
                ApiError::conflict("audit_contention", "too many concurrent changes; retry")
            }
            Fault::CallerRevoked => ApiError::unauthorized("invalid_api_key", BAD_KEY),
            Fault::CallerChanged => ApiError::conflict(
                "caller_changed",
                "the calling key, its member's role or its project role changed while this request ran; retry",
            ),
            Fault::MemberExists => {
                ApiError::conflict("member_exists", "a member with this e-mail already exists")
            }
            Fault::Stripe(e) => ApiError::from(e),
            Fault::StripePagination => ApiError::new(
                502,
                "stripe_pagination",
                "Stripe's list did not end (a page cursor came back, or the page cap was reached)",
            ),
            Fault::Database(e) => {
                let (code, message) = database_error(e.kind);
                let mut err = ApiError::new(502, code, message);
                err.detail = Some(format!("{:?} {:?}", e.kind, e.sqlstate));
                err
            }
            Fault::CoordinatorUnavailable(detail) => {
                let mut e = ApiError::unavailable(
                    "coordinator_unavailable",
                    "the project's coordinator did not take it; retry shortly",
                    5,
                );
                e.detail = Some(detail);
                e
            }
            Fault::LimiterUnavailable(detail) => {
                let mut e = ApiError::unavailable(
                    "rate_limiter_unavailable",
                    "the rate limiter is unavailable; the request was refused, retry shortly",
                    5,
                );
                e.detail = Some(detail);
                e
            }
            Fault::Input(e) => ApiError::from(e),
            Fault::Internal(detail) => ApiError::internal(detail),
        }
    }
}

impl Fault {
    /// The stable code a client is shown for it (for log lines and stored errors).
    pub fn code(&self) -> Cow<'static, str> {
        ApiError::from(self.clone()).code
    }

    /// The detail a log line carries beside the code (never rendered).
    pub fn detail(&self) -> Option<String> {
        ApiError::from(self.clone()).detail
    }

    /// The message a client is shown for it.
    pub fn message(&self) -> String {
        ApiError::from(self.clone()).message
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
    fn every_fault_maps_to_one_status_and_code() {
        use crate::pg::PgError;
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
        }
        assert_eq!(
            ApiError::from(Fault::Repair(RepairRefusal::NotPending("executed"))).message,
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
