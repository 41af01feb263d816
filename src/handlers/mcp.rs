//! POST /mcp — the MCP server (SPEC §11, `api::mcp`). The route guard authenticated the API key
//! (rate limit and failure lockout included) and checked the `Origin`; the core decides what to
//! answer; a tool call reads through the handler of the `GET` route it is bound to, after the
//! same project resolution and role check that route's guard makes. Nothing here writes.

use super::reads::{dispatch, Reader};
use crate::auth::extract::InProject;
use crate::auth::principal::Principal;
use crate::http::{json, App, Query, RawBody, RequestMeta};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::api::mcp::tools::{self, Call};
use parityrail_core::api::mcp::{self, Headers, Step};
use parityrail_core::domain::roles::Need;
use serde_json::Value;

#[worker::send]
pub async fn post(
    State(app): State<App>,
    p: Principal,
    meta: RequestMeta,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Response> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let h = Headers {
        protocol_version: text("mcp-protocol-version"),
        method: text("mcp-method"),
        name: text("mcp-name"),
    };
    let (status, body) = match mcp::handle(&body.0, h) {
        Step::Answer(status, body) => (status, body),
        Step::Tool(era, id, call) => {
            let answer = match read(&app, p, &call).await {
                Ok(v) => mcp::tool_result(era, &id, tools::shape(call.shape, call.route, v)),
                Err(e) => {
                    if let Some(detail) = &e.detail {
                        worker::console_error!(
                            "{}",
                            serde_json::json!({"request_id": meta.request_id, "mcp_tool": call.route.spec().path, "error": e.code, "detail": detail})
                        );
                    }
                    mcp::tool_error(era, &id, &e, &meta.request_id)
                }
            };
            (200, Some(answer))
        }
    };
    match body {
        Some(b) => json(status, &b),
        // A notification, or a response to a request this server never sends.
        None => Response::builder()
            .status(StatusCode::from_u16(status).map_err(|e| ApiError::internal(e.to_string()))?)
            .body(axum::body::Body::empty())
            .map_err(|e| ApiError::internal(e.to_string())),
    }
}

/// Reads what one tool call asks for through its route's handler, as that route's guard would
/// admit it: the project resolved through the key's org, environment and scope first (another
/// tenant's project is the same `404` as a missing one), then read in it.
async fn read(app: &App, p: Principal, call: &Call) -> ApiResult<Value> {
    let query = Query(Some(call.query.clone()));
    let reader = match &call.project {
        None => {
            p.require(Need::Read)?;
            Reader::Org(p)
        }
        Some(pid) => {
            let project = p.project(pid.as_str()).await?;
            p.require_in(&project, Need::Read)?;
            Reader::Project(InProject { p, project })
        }
    };
    let id = call.id.as_deref().unwrap_or_default();
    let mut res = dispatch(app, reader, call.route, id, query).await?;
    if let Some(e) = res.extensions_mut().remove::<ApiError>() {
        return Err(e);
    }
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::internal(e.to_string()))
}
