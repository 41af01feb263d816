//! Unauthenticated surfaces (health, security.txt and the policy it points to) and the two
//! fallbacks of the router. Under `/v1` (except operator bootstrap) a fallback authenticates
//! first, and under a project it resolves the project first, so an unknown route never hints at
//! what exists to a caller who could not reach it.

use crate::auth::guard::authenticate;
use crate::auth::operator::operator;
use crate::http::{json, meta, text, App};
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::Response;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::domain::security_txt;

/// GET /healthz
pub async fn healthz() -> ApiResult<Response> {
    json(200, &serde_json::json!({"ok": true}))
}

fn contact(app: &App) -> String {
    app.svc
        .var("SECURITY_CONTACT")
        .unwrap_or_else(|| "mailto:security@parityrail.dev".to_owned())
}

/// GET /.well-known/security.txt
pub async fn security_txt(State(app): State<App>, req: Request) -> ApiResult<Response> {
    let uri = req.uri();
    let origin = match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
        _ => {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| {
                    h.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
                    })
                })
                .unwrap_or("localhost");
            format!("https://{host}")
        }
    };
    text(security_txt::render(&origin, &contact(&app), app.svc.now))
}

/// GET /security-policy — where security.txt's `Policy` points.
pub async fn security_policy(State(app): State<App>) -> ApiResult<Response> {
    text(security_txt::policy(&contact(&app)))
}

/// Authenticates (and resolves the project of) a `/v1` request that matched no route.
async fn gate(app: &App, req: Request) -> ApiResult<()> {
    let path = req.uri().path().to_owned();
    if !path.starts_with("/v1/") {
        return Ok(());
    }
    let (parts, _) = req.into_parts();
    if path.starts_with("/v1/operator/") {
        // Operator paths answer only to the operator token, even about what exists there.
        operator(app, &meta(&parts)?, &parts.headers).await?;
        return Ok(());
    }
    let p = authenticate(app, &meta(&parts)?, &parts).await?;
    if let Some(pid) = path
        .strip_prefix("/v1/projects/")
        .and_then(|r| r.split('/').next())
    {
        p.project(pid).await?;
    }
    Ok(())
}

/// The router's fallback: 404 `no_route`.
#[worker::send]
pub async fn no_route(State(app): State<App>, req: Request) -> ApiResult<Response> {
    gate(&app, req).await?;
    Err(ApiError::no_route())
}

/// A declared path with an undeclared method: 405 `method_not_allowed`.
#[worker::send]
pub async fn method_not_allowed(State(app): State<App>, req: Request) -> ApiResult<Response> {
    gate(&app, req).await?;
    Err(ApiError::method_not_allowed())
}
