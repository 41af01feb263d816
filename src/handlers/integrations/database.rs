//! The database integration's routes, and the read-only session the worker uses everywhere.

use super::{integration_error, replace, DATABASE};
use crate::auth::extract::InProject;
use crate::auth::limits::probe_limit;
use crate::auth::scope::ProjectHandle;
use crate::clock::clock;
use crate::http::{json, App, RawBody};
use crate::project_io;
use crate::repo;
use crate::services::Services;
use crate::vault;
use axum::extract::State;
use axum::response::Response;
use parityrail_core::api::bodies::PutDatabase;
use parityrail_core::api::error::ApiResult;
use parityrail_core::domain::apikey::Environment;
use parityrail_core::domain::integrations::{check_db_url, DbUrl};
use parityrail_core::fault::Fault;
use serde_json::{json, Value};

/// PUT /v1/projects/{pid}/integrations/database — `{read_url, repair_url?}`. A live project's
/// URLs must use TLS (`sslmode=require`, the default): `sslmode=disable` is a 400.
#[worker::send]
pub async fn put(State(app): State<App>, ip: InProject, body: RawBody) -> ApiResult<Response> {
    let (svc, p, scope) = (&app.svc, &ip.p, &ip.project);
    let body: PutDatabase = body.json()?;
    let env = scope.row.environment;
    let parse = |raw: &str, field: &str| {
        DbUrl::parse(raw)
            .and_then(|u| check_db_url(&u, env).map(|()| u))
            .map_err(|e| integration_error(e, field))
    };
    let read = parse(&body.read_url, "read_url")?;
    let repair = body
        .repair_url
        .as_deref()
        .map(|u| parse(u, "repair_url"))
        .transpose()?;
    let sealer = vault::Sealer::new(svc, scope.handle())?;
    let mut rows = vec![sealer.seal("db_read_url", 0, &body.read_url, &json!(read.view()))?];
    if let (Some(raw), Some(parsed)) = (&body.repair_url, &repair) {
        rows.push(sealer.seal("db_repair_url", 0, raw, &json!(parsed.view()))?);
    }
    let after = replace(svc, p, scope, &DATABASE, rows, &[]).await?;
    json(200, &after)
}

/// POST /v1/projects/{pid}/integrations/database/test →
/// `{ok, read_only_enforced, role_can_write, latency_ms}` (+ `error` when `ok` is false).
#[worker::send]
pub async fn test(State(app): State<App>, ip: InProject) -> ApiResult<Response> {
    let (svc, scope) = (&app.svc, &ip.project);
    probe_limit(svc, scope.handle()).await?;
    let started = clock();
    let env = scope.row.environment;
    let outcome = match project_io::read_session(svc, scope.handle(), env).await? {
        Ok(session) => session.probe().await,
        Err(e) => Err(e),
    };
    let latency_ms = clock().millis() - started.millis();
    let repair = match repair_check(svc, scope.handle(), env).await {
        Ok(v) => v,
        // The read side's answer stands; the repair side says what went wrong with it.
        Err(e) => {
            if e.status >= 500 {
                worker::console_error!(
                    "{}",
                    json!({"repair_check": scope.id().as_str(), "error": e.code, "detail": e.detail})
                );
            }
            json!({"ok": false, "error": {"code": e.code, "message": e.message}})
        }
    };
    let mut body = match outcome {
        Ok(probe) => json!({
            "ok": true,
            "read_only_enforced": probe.read_only_enforced,
            "role_can_write": probe.role_can_write,
            "latency_ms": latency_ms,
        }),
        Err(e) => {
            let (code, message) = e.kind.describe();
            json!({
                "ok": false,
                "read_only_enforced": false,
                "role_can_write": null,
                "latency_ms": latency_ms,
                "error": {"code": code, "message": message, "sqlstate": e.sqlstate},
            })
        }
    };
    body["repair"] = repair;
    json(200, &body)
}

/// The repair credential's part of the connection test (`null` without one): whether it
/// connects, which mapped columns it may update, and a warning when it may write anything
/// beyond them (SPEC §5: the allowlist is the mapped columns; grant only those).
async fn repair_check(svc: &Services, pr: &ProjectHandle, env: Environment) -> ApiResult<Value> {
    let url = match project_io::repair_url(svc, pr, env).await {
        Ok(url) => url,
        Err(Fault::IntegrationMissing(_)) => return Ok(Value::Null),
        Err(e) => return Err(e.into()),
    };
    let m = repo::mappings::get(pr).await?.map(|(m, _)| m);
    let outcome = match svc.pg_read(&url).await {
        Ok(session) => match &m {
            Some(m) => {
                let allow: Vec<_> = m.repair_columns().into_iter().cloned().collect();
                session.repair_grants(&m.table, &allow).await.map(Some)
            }
            None => Ok(None),
        },
        Err(e) => Err(e),
    };
    Ok(match outcome {
        Ok(None) => json!({
            "ok": true,
            "can_update": null,
            "cannot_update": null,
            "beyond_allowlist": null,
            "warning": "set the mapping to check which columns the repair role may update",
        }),
        Ok(Some(g)) => {
            let mut warnings = Vec::new();
            if !g.cannot_update.is_empty() {
                warnings.push(format!(
                    "repairs of {} will fail: grant the repair role UPDATE on them",
                    g.cannot_update.join(", ")
                ));
            }
            if !g.beyond.is_empty() {
                warnings.push(format!(
                    "the repair role may write beyond the mapped columns ({}): grant only UPDATE on the mapped columns",
                    g.beyond.join("; ")
                ));
            }
            json!({
                "ok": true,
                "can_update": g.can_update,
                "cannot_update": g.cannot_update,
                "beyond_allowlist": !g.beyond.is_empty(),
                "beyond": g.beyond,
                "warning": if warnings.is_empty() { Value::Null } else { json!(warnings.join("; ")) },
            })
        }
        Err(e) => {
            let (code, message) = e.kind.describe();
            json!({"ok": false, "error": {"code": code, "message": message, "sqlstate": e.sqlstate}})
        }
    })
}
