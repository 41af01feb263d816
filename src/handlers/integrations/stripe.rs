//! The Stripe integration's routes, and the Stripe client the worker uses everywhere.

use super::{integration_error, replace, STRIPE};
use crate::auth::extract::InProject;
use crate::auth::limits::probe_limit;
use crate::clock::clock;
use crate::http::{json, App, RawBody};
use crate::project_io;
use crate::vault;
use axum::extract::State;
use axum::response::Response;
use parityrail_core::api::bodies::PutStripe;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::domain::integrations::{check_stripe_key, check_webhook_secrets};
use parityrail_core::domain::vault::Secret;
use serde_json::json;

/// PUT /v1/projects/{pid}/integrations/stripe — `{api_key, webhook_secrets}`. The key is checked
/// against the project's environment, then with Stripe itself, before anything is stored.
#[worker::send]
pub async fn put(State(app): State<App>, ip: InProject, body: RawBody) -> ApiResult<Response> {
    let (svc, p, scope) = (&app.svc, &ip.p, &ip.project);
    let body: PutStripe = body.json()?;
    let env = scope.row.environment;
    let key_view =
        check_stripe_key(&body.api_key, env).map_err(|e| integration_error(e, "api_key"))?;
    if let Some(secrets) = &body.webhook_secrets {
        check_webhook_secrets(secrets).map_err(|e| integration_error(e, "webhook_secrets"))?;
    }
    probe_limit(svc, scope.handle()).await?;
    let account = svc
        .stripe(Secret::new(body.api_key.clone()))
        .account()
        .await
        .map_err(ApiError::from)?;
    let mut view = json!(key_view);
    view["account_id"] = json!(account.map(|a| a.id));
    let sealer = vault::Sealer::new(svc, scope.handle())?;
    let mut rows = vec![sealer.seal("stripe_api_key", 0, &body.api_key, &view)?];
    for (i, s) in body.webhook_secrets.iter().flatten().enumerate() {
        rows.push(sealer.seal("stripe_webhook_secret", i as i64, s, &json!({"slot": i}))?);
    }
    let keep: &[&str] = match body.webhook_secrets {
        Some(_) => &[],
        None => &["stripe_webhook_secret"],
    };
    let after = replace(svc, p, scope, &STRIPE, rows, keep).await?;
    json(200, &after)
}

/// POST /v1/projects/{pid}/integrations/stripe/test — reads the first page of customers,
/// subscriptions and products with the stored key (an extension to SPEC §14).
#[worker::send]
pub async fn test(State(app): State<App>, ip: InProject) -> ApiResult<Response> {
    let (svc, scope) = (&app.svc, &ip.project);
    probe_limit(svc, scope.handle()).await?;
    let client = project_io::stripe(svc, scope.handle()).await?;
    let started = clock();
    let customers = client.customers_page(None).await.map_err(ApiError::from)?;
    let subscriptions = client
        .subscriptions_page(None, None)
        .await
        .map_err(ApiError::from)?;
    let products = client.products_page(None).await.map_err(ApiError::from)?;
    json(
        200,
        &json!({
            "ok": true,
            "latency_ms": clock().millis() - started.millis(),
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
