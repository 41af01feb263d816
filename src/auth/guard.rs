//! The route guard: the router runs it on every request it matched to a declared route, before
//! the handler, and it enforces the guard the one route declaration (`api::routes`) gives that
//! route. A handler cannot forget it: the guard runs whether or not the handler extracts anything. What it
//! establishes goes into the request's extensions, where the extractors (`extract.rs`) take it:
//!
//! - `Public`: nothing;
//! - `Operator`: the operator token checked → `OperatorGrant`;
//! - `StripeWebhook`: the body read (at most 1 MiB) and its signature verified against the
//!   project's webhook secrets → `VerifiedWebhook` (every failure: one `400 invalid_webhook`);
//! - `SignIn`: the attempt counted against the client's failure budget, the site's own `Origin`
//!   required → `SignInGrant` (the handler checks the key or link);
//! - `Session`: a dashboard session's cookie (CSRF token and `Origin` on a change) →
//!   `SessionCaller`;
//! - `Key(need)` (an API key, or a dashboard session's cookie) on an org route: authenticated, need checked against the org role → `Principal`;
//!   `OrgKey(need)` also refuses a key limited to one project (`403 key_scope`), `LiveOrgKey(need)`
//!   also a test key (`403 wrong_environment`);
//! - `Key(need)` on a project route: authenticated, the project resolved through the caller's
//!   org, environment and scope (the same 404 for every unreachable project), then the need
//!   checked against the role in that project → `InProject`.

use super::extract::InProject;
use super::limits::client_attempt;
use super::operator::operator;
use super::principal::{admitted, credential, key_principal, Principal};
use super::session::{has_session_cookie, session_caller, session_principal, sign_in_grant};
use super::webhook::{webhook, webhook_precheck, webhook_refused, Unverified};
use crate::http::RequestMeta;
use crate::http::{meta, path_param, App};
use axum::extract::Request;
use axum::http::request::Parts;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::api::routes::{Guard, Route};
use parityrail_core::domain::webhook;
use parityrail_core::fault::Fault;

/// Enforces `route`'s guard on a request the router matched to it, before its handler runs.
pub async fn establish(app: &App, route: Route, req: Request) -> ApiResult<Request> {
    let (mut parts, body) = req.into_parts();
    let spec = route.spec();
    let meta = meta(&parts)?;
    match spec.guard {
        Guard::Public => {}
        Guard::Operator => {
            let grant = operator(app, &meta, &parts.headers).await?;
            parts.extensions.insert(grant);
        }
        Guard::StripeWebhook => {
            // Every failure, whatever its cause (a path that does not decode, storage), is the
            // one `400 invalid_webhook`; the cause goes to the log only.
            let refused = |e: Unverified| {
                if let Unverified::Failed(f) = e {
                    worker::console_error!(
                        "{}",
                        serde_json::json!({"webhook": "refused", "error": f.code(), "detail": f.detail()})
                    );
                }
                webhook_refused()
            };
            // A path that does not decode is refused like any other delivery; a route declared
            // without `{pid}` would be ours to fix: refused, and logged.
            let pid = path_param(&mut parts, app, "pid").await.map_err(|e| {
                if e.status >= 500 {
                    refused(Unverified::Failed(Fault::internal(
                        e.detail.unwrap_or_default(),
                    )))
                } else {
                    webhook_refused()
                }
            })?;
            // Cheap checks before any I/O: the header parses and is fresh, the id is one.
            let header = webhook_precheck(app, &pid, &parts.headers).map_err(refused)?;
            let declared = parts
                .headers
                .get(axum::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            // Over 1 MiB: refused before the body is read (and a body without a length is read
            // only up to the limit).
            if declared.is_some_and(|n| n > webhook::MAX_BODY_BYTES as u64) {
                return Err(webhook_refused());
            }
            let bytes = axum::body::to_bytes(body, webhook::MAX_BODY_BYTES)
                .await
                .map_err(|_| webhook_refused())?;
            let verified = webhook(app, &pid, &header, &bytes).await.map_err(refused)?;
            parts.extensions.insert(verified);
            return Ok(Request::from_parts(parts, axum::body::Body::empty()));
        }
        Guard::SignIn => {
            let grant = sign_in_grant(app, &meta, &parts).await?;
            parts.extensions.insert(grant);
        }
        Guard::Session => {
            if let Some(caller) = session_caller(app, &meta, &parts).await? {
                parts.extensions.insert(caller);
            }
        }
        Guard::Mcp => {
            // Every `Origin` sent must pass; one that is not text is refused, never ignored.
            let allowed = app.svc.var("MCP_ALLOWED_ORIGINS");
            let mut origins = parts.headers.get_all("origin").iter().peekable();
            let pass =
                |o: Option<&str>| parityrail_core::api::mcp::origin_allowed(o, allowed.as_deref());
            let ok = if origins.peek().is_none() {
                pass(None)
            } else {
                origins.all(|v| v.to_str().is_ok_and(|o| pass(Some(o))))
            };
            if !ok {
                return Err(ApiError::bad_origin());
            }
            let p = authenticate_as(app, &meta, &parts, Cookies::Refused).await?;
            parts.extensions.insert(p);
        }
        Guard::Key(need) | Guard::OrgKey(need) | Guard::LiveOrgKey(need) => {
            let p = authenticate(app, &meta, &parts).await?;
            if spec.project_scoped() {
                let pid = path_param(&mut parts, app, "pid").await?;
                let project = p.project(&pid).await?;
                p.require_in(&project, need)?;
                parts.extensions.insert(InProject { p, project });
            } else {
                p.require(need)?;
                if matches!(spec.guard, Guard::OrgKey(_) | Guard::LiveOrgKey(_)) {
                    p.require_org_scope()?;
                }
                if matches!(spec.guard, Guard::LiveOrgKey(_)) {
                    p.require_live()?;
                }
                parts.extensions.insert(p);
            }
        }
    }
    Ok(Request::from_parts(parts, body))
}

/// Authenticates an API key, or without one a dashboard session's cookie, and applies the
/// key's rate limit (the attempt counted against the client's failure budget first, refunded
/// once the credential was good).
pub async fn authenticate(app: &App, meta: &RequestMeta, parts: &Parts) -> ApiResult<Principal> {
    authenticate_as(app, meta, parts, Cookies::Accepted).await
}

/// Whether a dashboard session's cookie is a credential on the route (not on `/mcp`).
#[derive(PartialEq)]
enum Cookies {
    Accepted,
    Refused,
}

async fn authenticate_as(
    app: &App,
    meta: &RequestMeta,
    parts: &Parts,
    cookies: Cookies,
) -> ApiResult<Principal> {
    let svc = &app.svc;
    let attempt = client_attempt(svc, meta).await?;
    let p = match credential(&parts.headers, &parts.uri) {
        Some(raw) => key_principal(app, &raw).await?,
        None if cookies == Cookies::Accepted && has_session_cookie(&parts.headers) => {
            session_principal(app, parts).await?
        }
        None => {
            return Err(ApiError::unauthorized(
                "missing_api_key",
                "an API key is required",
            ))
        }
    };
    admitted(app, meta, &attempt, p).await
}
