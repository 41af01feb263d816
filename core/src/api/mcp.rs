//! The Model Context Protocol surface (`POST /mcp`, SPEC §11): JSON-RPC 2.0 over Streamable
//! HTTP, always answered as `application/json`, stateless (no session is ever minted). Two eras:
//!
//! - the stateless revision `2026-07-28`: every request's `params._meta` carries the protocol
//!   version and the client's capabilities, the `MCP-Protocol-Version`, `Mcp-Method` and (for
//!   `tools/call`) `Mcp-Name` headers must say what the body says, `server/discover` describes
//!   the server, every result carries `resultType`;
//! - the 2025 revisions (`2025-11-25`, `2025-06-18`): `initialize` answered without a session,
//!   `notifications/initialized` accepted, `ping`.
//!
//! This module decides everything but the reads: `handle` turns a request into an answer, or
//! into a `Call` of one of the tools (`tools`), whose answer `tool_result` / `tool_error` wrap.

pub mod tools;

use crate::api::error::ApiError;
use base64::Engine;
use serde_json::{json, Value};
use tools::{Call, CallError};

/// The stateless revision.
pub const MODERN: &str = "2026-07-28";
/// Every revision served, newest first (`server/discover`'s `supportedVersions`, and the list an
/// unsupported version is answered with).
pub static SUPPORTED: [&str; 3] = [MODERN, "2025-11-25", "2025-06-18"];

const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
const META_SERVER: &str = "io.modelcontextprotocol/serverInfo";

const INSTRUCTIONS: &str = "ParityRail finds customers whose access in the application does not \
match what they pay for in Stripe. These tools are read-only: list_projects first, then list and \
read incidents, a customer's access ledger, run status, the audit chain's verification, webhook \
health and the integrations (never a secret).";

/// The `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers, as sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Headers<'a> {
    pub protocol_version: Option<&'a str>,
    pub method: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// Which revision a request is served under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    Modern,
    Legacy,
}

/// What to do with a request.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Answer with this status and body (`None`: `202` without a body).
    Answer(u16, Option<Value>),
    /// Read what the tool call asks for, then answer with `tool_result` or `tool_error`.
    Tool(Era, Value, Call),
}

/// A JSON-RPC error response; without an id when the request's is not known.
pub fn error(id: Option<&Value>, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut err = json!({"code": code, "message": message});
    if let Some(d) = data {
        err["data"] = d;
    }
    let mut v = json!({"jsonrpc": "2.0", "error": err});
    if let Some(id) = id {
        v["id"] = id.clone();
    }
    v
}

fn answer(status: u16, v: Value) -> Step {
    Step::Answer(status, Some(v))
}

fn unsupported(id: Option<&Value>, requested: &str) -> Step {
    answer(
        400,
        error(
            id,
            -32022,
            "unsupported protocol version",
            Some(json!({"supported": SUPPORTED, "requested": requested})),
        ),
    )
}

fn mismatch(id: &Value, what: &str) -> Step {
    answer(
        400,
        error(Some(id), -32020, &format!("header mismatch: {what}"), None),
    )
}

fn server_info() -> Value {
    json!({"name": "parityrail", "title": "ParityRail", "version": env!("CARGO_PKG_VERSION")})
}

/// A successful result: in the modern era with `resultType` and the server's identity.
fn result(era: Era, id: &Value, mut r: Value) -> Value {
    if era == Era::Modern {
        r["resultType"] = json!("complete");
        r["_meta"] = json!({ META_SERVER: server_info() });
    }
    json!({"jsonrpc": "2.0", "id": id, "result": r})
}

/// A header's value with optional whitespace trimmed.
fn header_value(raw: &str) -> Option<String> {
    Some(raw.trim_matches([' ', '\t']).to_owned())
}

/// `Mcp-Name`'s value, trimmed, its `=?base64?…?=` form decoded.
fn name_value(raw: &str) -> Option<String> {
    let v = raw.trim_matches([' ', '\t']);
    match v
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
        None => Some(v.to_owned()),
    }
}

/// Whether a request's `Origin` may reach the server (the DNS-rebinding rule): no `Origin` (an
/// agent, not a page), or one of `allowed` (comma-separated, exact), or with no list configured a
/// loopback origin (`http://localhost:8787`, `http://127.0.0.1`, `http://[::1]:3000`).
pub fn origin_allowed(origin: Option<&str>, allowed: Option<&str>) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    match allowed.map(str::trim).filter(|a| !a.is_empty()) {
        Some(list) => list.split(',').any(|a| a.trim() == origin),
        None => {
            let Some(rest) = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
            else {
                return false;
            };
            let host = match rest.strip_prefix("[::1]") {
                Some(port) => return port.is_empty() || is_port(port),
                None => rest,
            };
            let (name, port) = host.split_once(':').map_or((host, ""), |(h, p)| (h, p));
            matches!(name, "localhost" | "127.0.0.1")
                && (port.is_empty() || is_port(&format!(":{port}")))
        }
    }
}

/// `:` and 1 to 5 digits.
fn is_port(s: &str) -> bool {
    s.strip_prefix(':')
        .is_some_and(|d| (1..=5).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Decides what to answer to one `POST /mcp` body.
pub fn handle(body: &[u8], h: Headers) -> Step {
    let Ok(msg) = serde_json::from_slice::<Value>(body) else {
        return answer(
            400,
            error(None, -32700, "parse error: the body is not JSON", None),
        );
    };
    let Some(obj) = msg.as_object() else {
        return answer(
            400,
            error(
                None,
                -32600,
                "invalid request: one JSON-RPC object per request",
                None,
            ),
        );
    };
    let id = obj.get("id");
    let valid_id = matches!(id, None | Some(Value::String(_)))
        || id.is_some_and(|i| i.as_i64().is_some() || i.as_u64().is_some());
    let method = obj.get("method").and_then(Value::as_str);
    if obj.get("jsonrpc") != Some(&json!("2.0")) || !valid_id {
        let id = id.filter(|_| valid_id);
        return answer(
            400,
            error(id, -32600, "invalid request: not JSON-RPC 2.0", None),
        );
    }
    let Some(method) = method else {
        // A response (to a request this server never sends) or garbage.
        if id.is_some() && (obj.contains_key("result") || obj.contains_key("error")) {
            return Step::Answer(202, None);
        }
        return answer(400, error(id, -32600, "invalid request: no method", None));
    };
    let params = obj.get("params").cloned().unwrap_or(Value::Null);
    if !(params.is_null() || params.is_object()) {
        return answer(
            400,
            error(
                id,
                -32600,
                "invalid request: params must be an object",
                None,
            ),
        );
    }
    let Some(id) = id else {
        // A notification (`notifications/initialized`, `notifications/cancelled`, …): accepted.
        return Step::Answer(202, None);
    };
    let meta_version = params["_meta"][META_VERSION].as_str();
    let header = h.protocol_version.map(str::trim);
    let modern = header == Some(MODERN)
        || meta_version.is_some()
        || (header.is_some_and(|v| !SUPPORTED.contains(&v)) && method != "initialize");
    if modern {
        modern_request(id, method, &params, h)
    } else {
        legacy_request(id, method, &params, h)
    }
}

fn modern_request(id: &Value, method: &str, params: &Value, h: Headers) -> Step {
    let meta = &params["_meta"];
    let (Some(version), true) = (
        meta[META_VERSION].as_str(),
        meta[META_CAPABILITIES].is_object(),
    ) else {
        return answer(
            400,
            error(
                Some(id),
                -32602,
                "invalid params: _meta must carry io.modelcontextprotocol/protocolVersion and \
                 io.modelcontextprotocol/clientCapabilities",
                None,
            ),
        );
    };
    match h.protocol_version.and_then(header_value) {
        Some(v) if v == version => {}
        Some(_) => return mismatch(id, "MCP-Protocol-Version differs from _meta"),
        None => return mismatch(id, "MCP-Protocol-Version is missing"),
    }
    if version != MODERN {
        return unsupported(Some(id), version);
    }
    if h.method.is_none() {
        return mismatch(id, "Mcp-Method is missing");
    }
    if method == "tools/call" && params["name"].is_string() && h.name.is_none() {
        return mismatch(id, "Mcp-Name is missing");
    }
    if let Some(step) = headers_differ(id, method, params, h) {
        return step;
    }
    match method {
        "server/discover" => answer(
            200,
            result(
                Era::Modern,
                id,
                json!({
                    "supportedVersions": SUPPORTED,
                    "capabilities": {"tools": {"listChanged": false}},
                    "instructions": INSTRUCTIONS,
                    "ttlMs": 3_600_000,
                    "cacheScope": "public",
                }),
            ),
        ),
        "tools/list" => answer(
            200,
            result(
                Era::Modern,
                id,
                json!({"tools": tools::tools(), "ttlMs": 3_600_000, "cacheScope": "public"}),
            ),
        ),
        "tools/call" => call(Era::Modern, id, params),
        _ => answer(
            404,
            error(
                Some(id),
                -32601,
                &format!("method not found: {method}"),
                None,
            ),
        ),
    }
}

/// `Mcp-Method` and `Mcp-Name`, where sent (in either era), must say what the body says: a
/// gateway that routes or filters on them must not be told one thing while the body does
/// another.
fn headers_differ(id: &Value, method: &str, params: &Value, h: Headers) -> Option<Step> {
    if let Some(m) = h.method {
        if header_value(m).as_deref() != Some(method) {
            return Some(mismatch(id, "Mcp-Method differs from the method"));
        }
    }
    if let Some(n) = h.name {
        let named = match method {
            "tools/call" | "prompts/get" => params["name"].as_str(),
            "resources/read" => params["uri"].as_str(),
            _ => None,
        };
        if name_value(n).as_deref() != named {
            return Some(mismatch(id, "Mcp-Name differs from the name in the body"));
        }
    }
    None
}

fn legacy_request(id: &Value, method: &str, params: &Value, h: Headers) -> Step {
    let header = h.protocol_version.map(str::trim);
    if let Some(v) = header {
        if !SUPPORTED.contains(&v) || v == MODERN {
            return unsupported(Some(id), v);
        }
    }
    if let Some(step) = headers_differ(id, method, params, h) {
        return step;
    }
    match method {
        "initialize" => {
            let Some(asked) = params["protocolVersion"].as_str() else {
                return answer(
                    200,
                    error(
                        Some(id),
                        -32602,
                        "invalid params: protocolVersion is required",
                        None,
                    ),
                );
            };
            // A version not served is answered with the newest 2025 one (the client decides).
            let version = if asked != MODERN && SUPPORTED.contains(&asked) {
                asked
            } else {
                SUPPORTED[1]
            };
            answer(
                200,
                result(
                    Era::Legacy,
                    id,
                    json!({
                        "protocolVersion": version,
                        "capabilities": {"tools": {"listChanged": false}},
                        "serverInfo": server_info(),
                        "instructions": INSTRUCTIONS,
                    }),
                ),
            )
        }
        "ping" => answer(200, result(Era::Legacy, id, json!({}))),
        "tools/list" => answer(
            200,
            result(Era::Legacy, id, json!({"tools": tools::tools()})),
        ),
        "tools/call" => call(Era::Legacy, id, params),
        _ => answer(
            200,
            error(
                Some(id),
                -32601,
                &format!("method not found: {method}"),
                None,
            ),
        ),
    }
}

fn call(era: Era, id: &Value, params: &Value) -> Step {
    let Some(name) = params["name"].as_str() else {
        return answer(
            200,
            error(Some(id), -32602, "invalid params: name is required", None),
        );
    };
    match tools::call(name, params.get("arguments")) {
        Ok(c) => Step::Tool(era, id.clone(), c),
        Err(CallError::UnknownTool) => answer(
            200,
            error(Some(id), -32602, &format!("unknown tool: {name}"), None),
        ),
        Err(CallError::BadArgument(field, why)) => {
            let message = if field.is_empty() {
                format!("invalid arguments: {why}")
            } else {
                format!("invalid arguments: {field} {why}")
            };
            answer(
                200,
                error(Some(id), -32602, &message, Some(json!({"field": field}))),
            )
        }
    }
}

/// A tool's answer: the route's JSON as `structuredContent`, and as text for clients that read
/// only `content`.
pub fn tool_result(era: Era, id: &Value, structured: Value) -> Value {
    let text = structured.to_string();
    result(
        era,
        id,
        json!({"content": [{"type": "text", "text": text}], "structuredContent": structured}),
    )
}

/// A tool that ran and was refused or failed (`404` for a project or object the key cannot
/// reach, like one that does not exist): a result with `isError`, in the words of the API error.
pub fn tool_error(era: Era, id: &Value, e: &ApiError, request_id: &str) -> Value {
    let text = format!("{} ({}, request {request_id})", e.message, e.code);
    result(
        era,
        id,
        json!({"content": [{"type": "text", "text": text}], "isError": true}),
    )
}

#[cfg(test)]
mod tests;
