//! Orgs.

use super::Arg;
use crate::auth::scope::d1_within;
use crate::auth::scope::{Scoped, Tenant};
use crate::error::OrInternal;
use parityrail_core::domain::ids::OrgId;
use parityrail_core::fault::{Fallible, Fault};
pub use parityrail_core::rows::orgs::OrgRow;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::D1Database;

pub async fn get(t: &Tenant) -> Fallible<Option<OrgRow>> {
    t.first(
        "SELECT org_id AS id, name, created_at FROM orgs WHERE org_id = ?1",
        vec![],
    )
    .await
}

pub fn insert(t: &Tenant, o: &OrgRow) -> Fallible<Scoped> {
    t.stmt(
        "INSERT INTO orgs (org_id, name, created_at) VALUES (?1, ?2, ?3)",
        vec![Arg::text(&o.name), Arg::text(&o.created_at)],
    )
}

/// Org ids after `after`, in order, at most `limit`: how system jobs walk every tenant. The one
/// org query that runs without a tenant; only `auth::system::system_tenants` calls it.
pub async fn all_after(db: &D1Database, after: &str, limit: u32) -> Fallible<Vec<OrgId>> {
    #[derive(Deserialize)]
    struct R {
        org_id: String,
    }
    let rows = db
        .prepare("SELECT org_id FROM orgs WHERE org_id > ?1 ORDER BY org_id LIMIT ?2")
        .bind(&[
            JsValue::from_str(after),
            JsValue::from_f64(f64::from(limit)),
        ])
        .or_internal()?;
    let rows: Vec<R> = d1_within(rows.all())
        .await?
        .or_internal()?
        .results()
        .or_internal()?;
    rows.into_iter()
        .map(|r| OrgId::parse(&r.org_id).map_err(|e| Fault::internal(e.to_string())))
        .collect()
}
