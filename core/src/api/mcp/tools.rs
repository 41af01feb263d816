//! The MCP server's tools: each is one read-only `GET` route of the API (so it passes the same
//! tenancy and capability checks, and its answer is that route's own JSON), described to agents
//! by `tools.json` (name, description, `inputSchema`, `outputSchema`). Arguments are validated
//! against the tool's `inputSchema` here, before anything is read.

use crate::api::routes::Route;
use crate::domain::ids::{IncidentId, ProjectId, RunId};
use crate::domain::reconcile::is_customer_id;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// The tool descriptions, as `tools/list` returns them.
pub const TOOLS_JSON: &str = include_str!("tools.json");

/// The tools, parsed once.
pub fn tools() -> &'static [Value] {
    static TOOLS: OnceLock<Vec<Value>> = OnceLock::new();
    TOOLS.get_or_init(|| serde_json::from_str(TOOLS_JSON).unwrap_or_default())
}

/// How a tool reaches its route: which argument fills which path parameter, which become query
/// parameters, and how the route's answer becomes the tool's result.
pub struct Binding {
    pub tool: &'static str,
    /// The route without the optional `id` argument, and with it.
    pub route: Route,
    pub by_id: Option<(&'static str, Route)>,
    /// The arguments passed on as query parameters.
    pub query: &'static [&'static str],
    pub shape: Shape,
}

/// How a route's JSON becomes the tool's `structuredContent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// As the route answered it.
    AsIs,
    /// `{"run": …}`: a run, or the first of a list (`null` when empty).
    Run,
}

/// Every tool's binding; a test holds it to `tools.json` (names, properties) and to `GET`.
pub static BINDINGS: &[Binding] = &[
    Binding {
        tool: "list_projects",
        route: Route::ProjectsList,
        by_id: None,
        query: &["cursor", "limit"],
        shape: Shape::AsIs,
    },
    Binding {
        tool: "list_incidents",
        route: Route::IncidentsList,
        by_id: None,
        query: &["status", "kind", "customer", "cursor", "limit"],
        shape: Shape::AsIs,
    },
    Binding {
        tool: "get_incident",
        route: Route::IncidentsGet,
        by_id: None,
        query: &[],
        shape: Shape::AsIs,
    },
    Binding {
        tool: "customer_ledger",
        route: Route::CustomersLedger,
        by_id: None,
        query: &["cursor", "limit"],
        shape: Shape::AsIs,
    },
    Binding {
        tool: "run_status",
        route: Route::RunsList,
        by_id: Some(("run_id", Route::RunsGet)),
        query: &[],
        shape: Shape::Run,
    },
    Binding {
        tool: "verify_audit_chain",
        route: Route::AuditVerifyProject,
        by_id: None,
        query: &[],
        shape: Shape::AsIs,
    },
    Binding {
        tool: "webhook_health",
        route: Route::WebhooksHealth,
        by_id: None,
        query: &[],
        shape: Shape::AsIs,
    },
    Binding {
        tool: "get_integrations",
        route: Route::IntegrationsGet,
        by_id: None,
        query: &[],
        shape: Shape::AsIs,
    },
];

/// One validated tool call: the route to read, its project and second path parameter, and the
/// query string to read it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub route: Route,
    pub project: Option<ProjectId>,
    /// The value of the route's other path parameter (`{iid}`, `{cus}`, `{rid}`).
    pub id: Option<String>,
    /// `a=b&c=d`, percent-encoded.
    pub query: String,
    pub shape: Shape,
}

/// Why a call was refused before anything was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    UnknownTool,
    /// The argument at fault (`""` for the arguments object itself) and what is wrong.
    BadArgument(String, String),
}

/// The path parameter each id argument fills, by route template.
const PATH_ARGS: &[(&str, &str)] = &[
    ("{iid}", "incident_id"),
    ("{cus}", "customer_id"),
    ("{rid}", "run_id"),
];

/// Validates `arguments` against the tool's `inputSchema` and binds it to its route.
pub fn call(name: &str, arguments: Option<&Value>) -> Result<Call, CallError> {
    let binding = BINDINGS
        .iter()
        .find(|b| b.tool == name)
        .ok_or(CallError::UnknownTool)?;
    let tool = tools()
        .iter()
        .find(|t| t["name"] == name)
        .ok_or(CallError::UnknownTool)?;
    let empty = Map::new();
    let args = match arguments {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err(bad("", "arguments must be an object")),
    };
    validate(&tool["inputSchema"], args)?;
    let text = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_owned);
    let route = match binding.by_id {
        Some((arg, r)) if args.contains_key(arg) => r,
        _ => binding.route,
    };
    let path = route.spec().path;
    let id = PATH_ARGS
        .iter()
        .find(|(p, _)| path.contains(p))
        .and_then(|(_, arg)| text(arg));
    let project = text("project_id").and_then(|p| ProjectId::parse(&p).ok());
    let mut query: Vec<String> = binding
        .query
        .iter()
        .filter_map(|k| {
            let v = match args.get(*k)? {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            Some(format!(
                "{k}={}",
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            ))
        })
        .collect();
    if binding.shape == Shape::Run && route == Route::RunsList {
        query.push("limit=1".into());
    }
    Ok(Call {
        route,
        project,
        id,
        query: query.join("&"),
        shape: binding.shape,
    })
}

/// The tool's `structuredContent` from its route's JSON answer.
pub fn shape(shape: Shape, route: Route, answer: Value) -> Value {
    match (shape, route) {
        (Shape::Run, Route::RunsList) => {
            let first = answer["data"].get(0).cloned().unwrap_or(Value::Null);
            serde_json::json!({ "run": first })
        }
        (Shape::Run, _) => serde_json::json!({ "run": answer }),
        (Shape::AsIs, _) => answer,
    }
}

fn bad(field: &str, why: &str) -> CallError {
    CallError::BadArgument(field.to_owned(), why.to_owned())
}

/// The subset of JSON Schema `tools.json` uses: an object with `properties`, `required` and
/// `additionalProperties: false`; strings with `enum`, `maxLength` and the `pattern`s `PATTERNS`
/// implements; integers with `minimum` and `maximum`. A test holds `tools.json` to this subset.
fn validate(schema: &Value, args: &Map<String, Value>) -> Result<(), CallError> {
    let props = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if schema["additionalProperties"] == Value::Bool(false) {
        if let Some(k) = args.keys().find(|k| !props.contains_key(*k)) {
            return Err(bad(k, "is not an argument of this tool"));
        }
    }
    for req in schema["required"].as_array().into_iter().flatten() {
        if let Some(k) = req.as_str() {
            if !args.contains_key(k) {
                return Err(bad(k, "is required"));
            }
        }
    }
    for (k, v) in args {
        if let Some(p) = props.get(k) {
            check(k, p, v)?;
        }
    }
    Ok(())
}

fn check(k: &str, p: &Value, v: &Value) -> Result<(), CallError> {
    match p["type"].as_str() {
        Some("string") => {
            let s = v.as_str().ok_or_else(|| bad(k, "must be a string"))?;
            if let Some(max) = p["maxLength"].as_u64() {
                if s.chars().count() as u64 > max {
                    return Err(bad(k, &format!("must be at most {max} characters")));
                }
            }
            if let Some(allowed) = p["enum"].as_array() {
                if !allowed.iter().any(|a| a == v) {
                    return Err(bad(k, "is not one of the allowed values"));
                }
            }
            if let Some(pattern) = p["pattern"].as_str() {
                let ok = PATTERNS
                    .iter()
                    .find(|(pat, _)| *pat == pattern)
                    .is_some_and(|(_, f)| f(s));
                if !ok {
                    return Err(bad(k, &format!("must match {pattern}")));
                }
            }
        }
        Some("integer") => {
            let n = v.as_i64().ok_or_else(|| bad(k, "must be an integer"))?;
            let min = p["minimum"].as_i64().unwrap_or(i64::MIN);
            let max = p["maximum"].as_i64().unwrap_or(i64::MAX);
            if n < min || n > max {
                return Err(bad(k, &format!("must be from {min} to {max}")));
            }
        }
        _ => return Err(bad(k, "has no type this server checks")),
    }
    Ok(())
}

/// A `pattern` and its parser.
pub type Pattern = (&'static str, fn(&str) -> bool);

/// The `pattern`s `tools.json` uses, each with the parser that decides it (the same parsers the
/// API's path parameters use).
pub static PATTERNS: &[Pattern] = &[
    ("^prj_[0-9A-Za-z]{22}$", |s| ProjectId::parse(s).is_ok()),
    ("^inc_[0-9A-Za-z]{22}$", |s| IncidentId::parse(s).is_ok()),
    ("^run_[0-9A-Za-z]{22}$", |s| RunId::parse(s).is_ok()),
    ("^[A-Za-z0-9_]{1,255}$", is_customer_id),
];

#[cfg(test)]
mod tests;
