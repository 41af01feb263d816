//! The caller's org.

use crate::api::error::{ApiError, ApiResult};
use crate::edge::auth::Principal;
use crate::edge::http::json;
use crate::edge::repo;
use axum::response::Response;

/// GET /v1/org
#[worker::send]
pub async fn get(p: Principal) -> ApiResult<Response> {
    let org = repo::orgs::get(&p.tenant)
        .await?
        .ok_or_else(|| ApiError::internal("key without org"))?;
    json(200, &org.view())
}
