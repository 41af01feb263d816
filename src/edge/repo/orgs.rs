//! Orgs.

use super::Arg;
use crate::edge::auth::scope::{Scoped, Tenant};
use crate::edge::error::ApiResult;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

pub async fn get(t: &Tenant) -> ApiResult<Option<OrgRow>> {
    t.first(
        "SELECT org_id AS id, name, created_at FROM orgs WHERE org_id = ?1",
        vec![],
    )
    .await
}

pub fn insert(t: &Tenant, o: &OrgRow) -> ApiResult<Scoped> {
    t.stmt(
        "INSERT INTO orgs (org_id, name, created_at) VALUES (?1, ?2, ?3)",
        vec![Arg::text(&o.name), Arg::text(&o.created_at)],
    )
}
