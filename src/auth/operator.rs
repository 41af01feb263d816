//! The operator token: the only way to reach an org that has no key yet (bootstrap).

use super::grants::RAW;
use super::limits::{client_attempt, refund_attempt};
use super::scope::Tenant;
use crate::http::{App, RequestMeta};
use crate::services::Services;
use axum::http::HeaderMap;
use parityrail_core::api::error::{ApiError, ApiResult};
use parityrail_core::domain::ids::OrgId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Proof that the operator token was presented; the only way to reach an org that has no key.
#[derive(Clone)]
pub struct OperatorGrant(());

impl OperatorGrant {
    pub fn tenant_for(&self, svc: &Services, org: OrgId) -> ApiResult<Tenant> {
        Ok(Tenant::new(svc.db(&RAW)?, org))
    }
}

/// Checks `Authorization: Bearer <OPERATOR_TOKEN>` in constant time (over SHA-256 digests, so
/// neither content nor length leaks through timing), counted against the client's budget first.
pub async fn operator(
    app: &App,
    meta: &RequestMeta,
    headers: &HeaderMap,
) -> ApiResult<OperatorGrant> {
    let svc = &app.svc;
    let attempt = client_attempt(svc, meta).await?;
    let presented = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    let expected = svc.var("OPERATOR_TOKEN");
    let ok = match (presented, expected) {
        (Some(p), Some(e)) if e.len() >= 16 => {
            bool::from(Sha256::digest(p.as_bytes()).ct_eq(&Sha256::digest(e.as_bytes())))
        }
        _ => false,
    };
    if !ok {
        return Err(ApiError::unauthorized(
            "invalid_operator_token",
            "operator token required",
        ));
    }
    refund_attempt(app, meta, &attempt);
    Ok(OperatorGrant(()))
}
