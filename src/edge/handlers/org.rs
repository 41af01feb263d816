//! The caller's org.

use crate::domain::roles::Need;
use crate::edge::auth::Principal;
use crate::edge::error::{ApiError, ApiResult};
use crate::edge::http::json;
use crate::edge::repo;
use worker::Response;

/// GET /v1/org
pub async fn get(p: Principal) -> ApiResult<Response> {
    p.require(Need::Read)?;
    let org = repo::orgs::get(&p.tenant)
        .await?
        .ok_or_else(|| ApiError::internal("key without org"))?;
    json(200, &org)
}
