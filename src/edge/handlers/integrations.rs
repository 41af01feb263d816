//! Integrations (SPEC §3, §14): Stripe and database credentials go into the vault the moment
//! they arrive; responses, errors, logs and audit entries only ever carry the non-secret view.

use crate::domain::apikey::Environment;
use crate::domain::audit::Draft;
use crate::domain::integrations::{
    check_stripe_key, check_webhook_secrets, DbUrl, IntegrationError,
};
use crate::domain::roles::Need;
use crate::domain::vault::Secret;
use crate::edge::audit::{commit, retrying, Chain};
use crate::edge::auth::{Principal, ProjectScope};
use crate::edge::connectors::{pg_connect, WorkerHttp};
use crate::edge::error::{ApiError, ApiResult};
use crate::edge::http::{json, json_body, now, Ctx};
use crate::edge::repo::{self, credentials::CredentialRow};
use crate::edge::vault;
use crate::pg::{self, PgError, PgErrorKind};
use crate::stripe::{RetryPolicy, StripeClient, StripeError};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

/// One integration's credential kinds, its audit action and its non-secret view.
struct Integration {
    kinds: [&'static str; 2],
    action: &'static str,
    view: fn(&[CredentialRow]) -> Value,
}

const STRIPE: Integration = Integration {
    kinds: ["stripe_api_key", "stripe_webhook_secret"],
    action: "integration.stripe.updated",
    view: stripe_view,
};
const DATABASE: Integration = Integration {
    kinds: ["db_read_url", "db_repair_url"],
    action: "integration.database.updated",
    view: database_view,
};

fn integration_error(e: IntegrationError, field: &str) -> ApiError {
    let field = if e.field() == "url" { field } else { e.field() };
    ApiError::bad_field(field, e.to_string())
}

pub fn stripe_error(e: StripeError) -> ApiError {
    let (status, code) = match e {
        StripeError::Unauthorized => (400, "stripe_key_rejected"),
        StripeError::Forbidden => (400, "stripe_permission_missing"),
        StripeError::Unreachable => (502, "stripe_unreachable"),
        StripeError::Timeout => (504, "stripe_timeout"),
        StripeError::RateLimited => (503, "stripe_rate_limited"),
        StripeError::Server(_) | StripeError::Client(_) => (502, "stripe_error"),
        StripeError::Malformed => (502, "stripe_bad_response"),
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

pub fn stripe_client(ctx: &Ctx, key: Secret) -> StripeClient<WorkerHttp> {
    let base = ctx
        .var("STRIPE_API_BASE")
        .unwrap_or_else(|| "https://api.stripe.com".to_owned());
    let d = RetryPolicy::default();
    let policy = RetryPolicy {
        attempts: ctx.var_u32("STRIPE_RETRY_ATTEMPTS", d.attempts),
        base_delay_ms: ctx.var_u32("STRIPE_RETRY_BASE_MS", d.base_delay_ms),
        max_delay_ms: ctx.var_u32("STRIPE_RETRY_MAX_MS", d.max_delay_ms),
        timeout_ms: ctx.var_u32("STRIPE_TIMEOUT_MS", d.timeout_ms),
    };
    StripeClient::new(WorkerHttp, &base, key, policy)
}

fn public(row: &CredentialRow) -> Value {
    serde_json::from_str(&row.public).unwrap_or(Value::Null)
}

/// The non-secret view of a project's Stripe integration (`null` when not configured).
fn stripe_view(rows: &[CredentialRow]) -> Value {
    rows.iter()
        .find(|r| r.kind == "stripe_api_key")
        .map_or(Value::Null, |r| {
            let mut v = public(r);
            v["webhook_secrets"] = json!(rows
                .iter()
                .filter(|r| r.kind == "stripe_webhook_secret")
                .count());
            v["updated_at"] = json!(r.created_at);
            v
        })
}

/// The non-secret view of a project's database integration (`null` when not configured).
fn database_view(rows: &[CredentialRow]) -> Value {
    let find = |kind: &str| rows.iter().find(|r| r.kind == kind);
    find("db_read_url").map_or(Value::Null, |r| {
        json!({"read": public(r), "repair": find("db_repair_url").map(public), "updated_at": r.created_at})
    })
}

/// Replaces the project's credentials of `kinds` with `rows` in one batch, recording `action`
/// with the views `view` picks (the `before` read after the chain head, so it is exact).
async fn replace(
    ctx: &Ctx,
    p: &Principal,
    pid: &str,
    integration: &Integration,
    rows: Vec<CredentialRow>,
) -> ApiResult<Value> {
    let Integration {
        kinds,
        action,
        view,
    } = integration;
    let after = view(&rows);
    retrying(&p.tenant, Chain::Project(pid), |head| async {
        let before = view(&current(p, pid).await?);
        let draft = Draft::new(
            p.actor(),
            action,
            format!("project:{pid}"),
            before,
            after.clone(),
        );
        let mut changes = repo::credentials::delete_kinds(&p.tenant, pid, kinds.as_slice())?;
        for r in &rows {
            changes.push(repo::credentials::insert(&p.tenant, r)?);
        }
        commit(
            &p.tenant,
            Chain::Project(pid),
            head,
            vec![draft],
            changes,
            ctx.now,
        )
        .await
    })
    .await?;
    Ok(after)
}

async fn current(p: &Principal, pid: &str) -> ApiResult<Vec<CredentialRow>> {
    repo::credentials::for_project(&p.tenant, pid).await
}

async fn admin_scope(p: &Principal, pid: &str) -> ApiResult<ProjectScope> {
    let scope = p.project(pid).await?;
    p.require_in(&scope, Need::Admin)?;
    Ok(scope)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutStripe {
    api_key: String,
    #[serde(default)]
    webhook_secrets: Vec<String>,
}

/// PUT /v1/projects/{pid}/integrations/stripe — `{api_key, webhook_secrets}`. The key is checked
/// against the project's environment, then with Stripe itself, before anything is stored.
pub async fn put_stripe(
    ctx: &Ctx,
    mut req: Request,
    p: Principal,
    pid: &str,
) -> ApiResult<Response> {
    let scope = admin_scope(&p, pid).await?;
    let body: PutStripe = json_body(&mut req).await?;
    let env = Environment::parse(&scope.row.environment)
        .ok_or_else(|| ApiError::internal("bad environment"))?;
    let key_view =
        check_stripe_key(&body.api_key, env).map_err(|e| integration_error(e, "api_key"))?;
    check_webhook_secrets(&body.webhook_secrets)
        .map_err(|e| integration_error(e, "webhook_secrets"))?;
    let account = stripe_client(ctx, Secret::new(body.api_key.clone()))
        .account()
        .await
        .map_err(stripe_error)?;
    let mut view = json!(key_view);
    view["account_id"] = json!(account.map(|a| a.id));
    let sealer = vault::Sealer::new(ctx, &p.tenant, pid)?;
    let mut rows = vec![sealer.seal("stripe_api_key", 0, &body.api_key, &view)?];
    for (i, s) in body.webhook_secrets.iter().enumerate() {
        rows.push(sealer.seal("stripe_webhook_secret", i as i64, s, &json!({"slot": i}))?);
    }
    let after = replace(ctx, &p, pid, &STRIPE, rows).await?;
    json(200, &after)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutDatabase {
    read_url: String,
    repair_url: Option<String>,
}

/// PUT /v1/projects/{pid}/integrations/database — `{read_url, repair_url?}`.
pub async fn put_database(
    ctx: &Ctx,
    mut req: Request,
    p: Principal,
    pid: &str,
) -> ApiResult<Response> {
    admin_scope(&p, pid).await?;
    let body: PutDatabase = json_body(&mut req).await?;
    let read = DbUrl::parse(&body.read_url).map_err(|e| integration_error(e, "read_url"))?;
    let repair = body
        .repair_url
        .as_deref()
        .map(|u| DbUrl::parse(u).map_err(|e| integration_error(e, "repair_url")))
        .transpose()?;
    let sealer = vault::Sealer::new(ctx, &p.tenant, pid)?;
    let mut rows = vec![sealer.seal("db_read_url", 0, &body.read_url, &json!(read.view()))?];
    if let (Some(raw), Some(parsed)) = (&body.repair_url, &repair) {
        rows.push(sealer.seal("db_repair_url", 0, raw, &json!(parsed.view()))?);
    }
    let after = replace(ctx, &p, pid, &DATABASE, rows).await?;
    json(200, &after)
}

/// GET /v1/projects/{pid}/integrations — non-secret identifiers only.
pub async fn get(p: Principal, pid: &str) -> ApiResult<Response> {
    let scope = p.project(pid).await?;
    p.require_in(&scope, Need::Read)?;
    let rows = current(&p, pid).await?;
    json(
        200,
        &json!({"stripe": stripe_view(&rows), "database": database_view(&rows)}),
    )
}

fn pg_error(e: &PgError) -> (&'static str, &'static str) {
    match e.kind {
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
        PgErrorKind::Query => ("database_error", "the database returned an error"),
    }
}

/// Opens the project's credential of `kind`; `409 integration_missing` when there is none.
pub async fn open_credential(
    ctx: &Ctx,
    p: &Principal,
    pid: &str,
    kind: &str,
    what: &str,
) -> ApiResult<Secret> {
    let rows = current(p, pid).await?;
    let row = rows.iter().find(|r| r.kind == kind).ok_or_else(|| {
        ApiError::conflict(
            "integration_missing",
            format!("configure the {what} integration first"),
        )
    })?;
    vault::open(&vault::keyring(ctx)?, &p.tenant, row)
}

/// Opens the project's read credential as a read-only session.
pub async fn read_session(
    ctx: &Ctx,
    p: &Principal,
    pid: &str,
) -> ApiResult<Result<tokio_postgres::Client, PgError>> {
    let secret = open_credential(ctx, p, pid, "db_read_url", "database").await?;
    let url = DbUrl::parse(secret.expose())
        .map_err(|_| ApiError::internal("stored database URL does not parse"))?;
    let timeout = ctx.var_u32("DB_TIMEOUT_MS", 10_000);
    let client = match pg_connect(&url, timeout).await {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    match pg::begin_read_session(
        &client,
        ctx.var_u32("DB_STATEMENT_TIMEOUT_MS", pg::STATEMENT_TIMEOUT_MS),
    )
    .await
    {
        Ok(()) => Ok(Ok(client)),
        Err(e) => Ok(Err(e)),
    }
}

/// POST /v1/projects/{pid}/integrations/database/test →
/// `{ok, read_only_enforced, role_can_write, latency_ms}` (+ `error` when `ok` is false).
pub async fn test_database(ctx: &Ctx, p: Principal, pid: &str) -> ApiResult<Response> {
    admin_scope(&p, pid).await?;
    let started = now();
    let outcome = match read_session(ctx, &p, pid).await? {
        Ok(client) => pg::probe(&client).await,
        Err(e) => Err(e),
    };
    let latency_ms = now().millis() - started.millis();
    let body = match outcome {
        Ok(probe) => json!({
            "ok": true,
            "read_only_enforced": probe.read_only_enforced,
            "role_can_write": probe.role_can_write,
            "latency_ms": latency_ms,
        }),
        Err(e) => {
            let (code, message) = pg_error(&e);
            json!({
                "ok": false,
                "read_only_enforced": false,
                "role_can_write": null,
                "latency_ms": latency_ms,
                "error": {"code": code, "message": message, "sqlstate": e.sqlstate},
            })
        }
    };
    json(200, &body)
}

/// POST /v1/projects/{pid}/integrations/stripe/test — reads the first page of customers,
/// subscriptions and products with the stored key (an extension to SPEC §14).
pub async fn test_stripe(ctx: &Ctx, p: Principal, pid: &str) -> ApiResult<Response> {
    admin_scope(&p, pid).await?;
    let key = open_credential(ctx, &p, pid, "stripe_api_key", "Stripe").await?;
    let client = stripe_client(ctx, key);
    let started = now();
    let customers = client.customers_page(None).await.map_err(stripe_error)?;
    let subscriptions = client
        .subscriptions_page(None, None)
        .await
        .map_err(stripe_error)?;
    let products = client.products_page(None).await.map_err(stripe_error)?;
    json(
        200,
        &json!({
            "ok": true,
            "latency_ms": now().millis() - started.millis(),
            "stripe_requests": client.requests(),
            "first_page": {
                "customers": customers.data.len(),
                "subscriptions": subscriptions.data.len(),
                "products": products.data.len(),
                "more_customers": customers.next.is_some(),
            },
        }),
    )
}
