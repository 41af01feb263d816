//! The caller's org.

use crate::auth::principal::Principal;
use crate::http::json;
use crate::repo;
use axum::response::Response;
use parityrail_core::api::error::{ApiError, ApiResult};

/// GET /v1/org
#[worker::send]
pub async fn get(p: Principal) -> ApiResult<Response> {
    let org = repo::orgs::get(&p.tenant)
        .await?
        .ok_or_else(|| ApiError::internal("key without org"))?;
    json(200, &org.view())
}
