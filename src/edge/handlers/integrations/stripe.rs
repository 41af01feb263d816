//! The Stripe integration's routes, and the Stripe client the worker uses everywhere.

use super::{admin_scope, integration_error, open_credential, replace, STRIPE};
use crate::domain::apikey::Environment;
use crate::domain::integrations::{check_stripe_key, check_webhook_secrets};
use crate::domain::vault::Secret;
use crate::edge::auth::{probe_limit, Principal};
use crate::edge::connectors::WorkerHttp;
use crate::edge::error::{ApiError, ApiResult};
use crate::edge::http::{json, json_body, now, Ctx};
use crate::edge::vault;
use crate::stripe::{RetryPolicy, StripeClient, StripeError};
use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

pub fn stripe_error(e: StripeError) -> ApiError {
    let (status, code) = match e {
        StripeError::Unauthorized => (400, "stripe_key_rejected"),
        StripeError::Forbidden => (400, "stripe_permission_missing"),
        StripeError::Unreachable => (502, "stripe_unreachable"),
        StripeError::Timeout => (504, "stripe_timeout"),
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutStripe {
    api_key: String,
    #[serde(default)]
    webhook_secrets: Vec<String>,
}

/// PUT /v1/projects/{pid}/integrations/stripe — `{api_key, webhook_secrets}`. The key is checked
/// against the project's environment, then with Stripe itself, before anything is stored.
pub async fn put(ctx: &Ctx, mut req: Request, p: Principal, pid: &str) -> ApiResult<Response> {
    let scope = admin_scope(&p, pid).await?;
    let body: PutStripe = json_body(&mut req).await?;
    let env = Environment::parse(&scope.row.environment)
        .ok_or_else(|| ApiError::internal("bad environment"))?;
    let key_view =
        check_stripe_key(&body.api_key, env).map_err(|e| integration_error(e, "api_key"))?;
    check_webhook_secrets(&body.webhook_secrets)
        .map_err(|e| integration_error(e, "webhook_secrets"))?;
    probe_limit(ctx, pid).await?;
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

/// POST /v1/projects/{pid}/integrations/stripe/test — reads the first page of customers,
/// subscriptions and products with the stored key (an extension to SPEC §14).
pub async fn test(ctx: &Ctx, p: Principal, pid: &str) -> ApiResult<Response> {
    admin_scope(&p, pid).await?;
    probe_limit(ctx, pid).await?;
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
