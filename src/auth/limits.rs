//! The rate limits authentication applies: a client's budget of credential-bearing attempts
//! (counted before the credential is looked at, refunded once it was valid), a key's requests
//! per minute, and the limits on calls that connect somewhere on a caller's behalf.

use super::scope::ProjectHandle;
use crate::http::{App, RequestMeta};
use crate::services::Services;
use parityrail_core::api::error::{ApiError, ApiResult};

fn ip_limit(svc: &Services) -> u32 {
    svc.var_u32("RATE_LIMIT_IP_PER_MINUTE", 60)
}

/// The window a counted attempt belongs to (for its refund).
#[derive(Clone, serde::Deserialize)]
pub struct Attempt {
    allowed: bool,
    retry_after_secs: u32,
    window: i64,
}

/// Counts a credential-bearing request against the client's failure budget, before anything
/// else happens; refuses (`429`) a client over its budget until its window ends.
pub async fn client_attempt(svc: &Services, meta: &RequestMeta) -> ApiResult<Attempt> {
    let op = format!("attempt?limit={}", ip_limit(svc));
    let a: Attempt = svc.limiter_call(&meta.client_bucket, &op).await?;
    if a.allowed {
        Ok(a)
    } else {
        Err(ApiError::rate_limited(a.retry_after_secs))
    }
}

/// Takes back the attempt of a request whose credential was valid (after the response, off its
/// path; only within the window it was counted in; a refund that fails only leaves the client
/// one attempt shorter for that window).
pub(super) fn refund_attempt(app: &App, meta: &RequestMeta, attempt: &Attempt) {
    let (svc, bucket) = (app.svc.clone(), meta.client_bucket.clone());
    let op = format!("refund?window={}", attempt.window);
    app.wctx.wait_until(async move {
        let _ = svc.limiter(&bucket, &op).await;
    });
}

/// Calls that make ParityRail connect somewhere on a caller's behalf (testing a database URL,
/// checking a Stripe key with Stripe) are limited per project (`RATE_LIMIT_PROBE_PER_MINUTE`,
/// default 10) and per org (`RATE_LIMIT_PROBE_ORG_PER_MINUTE`, default 30, so new projects do
/// not bring new budgets), so they serve neither as a port scanner nor as a Stripe-key oracle.
pub async fn probe_limit(svc: &Services, project: &ProjectHandle) -> ApiResult<()> {
    // The project's own budget first, so one project cannot drain its org's.
    let per_minute = svc.var_u32("RATE_LIMIT_PROBE_PER_MINUTE", 10);
    check_limit(svc, &format!("probe:{}", project.id()), per_minute).await?;
    let per_org = svc.var_u32("RATE_LIMIT_PROBE_ORG_PER_MINUTE", 30);
    let org = project.tenant().org_id();
    check_limit(svc, &format!("probe-org:{org}"), per_org).await
}

pub(super) async fn check_limit(svc: &Services, bucket: &str, per_minute: u32) -> ApiResult<()> {
    let d = svc
        .limiter(bucket, &format!("take?per_minute={per_minute}"))
        .await?;
    if d.allowed {
        Ok(())
    } else {
        Err(ApiError::rate_limited(d.retry_after_secs))
    }
}
