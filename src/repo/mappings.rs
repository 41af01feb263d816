//! A project's mapping: stored as the validated mapping's JSON, parsed back into a `Mapping` at
//! this boundary (a row that does not validate is a 500, never a half-read mapping).

use super::Arg;
use crate::auth::scope::{ProjectHandle, Scoped};
use parityrail_core::domain::mapping::Mapping;
use parityrail_core::fault::{Fallible, Fault};
use serde::Deserialize;

#[derive(Deserialize)]
struct Row {
    mapping: String,
    updated_at: String,
}

/// The project's mapping and when it last changed, if it has one.
pub async fn get(pr: &ProjectHandle) -> Fallible<Option<(Mapping, String)>> {
    let row: Option<Row> = pr
        .tenant()
        .first(
            "SELECT mapping, updated_at FROM mappings WHERE org_id = ?1 AND project_id = ?2",
            vec![Arg::text(pr.as_str())],
        )
        .await?;
    row.map(|r| {
        let v: serde_json::Value = serde_json::from_str(&r.mapping)
            .map_err(|_| Fault::internal("stored mapping is not JSON"))?;
        let m = Mapping::from_json(&v)
            .map_err(|e| Fault::internal(format!("stored mapping does not validate: {e}")))?;
        Ok((m, r.updated_at))
    })
    .transpose()
}

pub fn put(pr: &ProjectHandle, m: &Mapping, at: &str) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "INSERT INTO mappings (org_id, project_id, mapping, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (project_id) DO UPDATE SET mapping = excluded.mapping, updated_at = excluded.updated_at \
         WHERE org_id = ?1",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(m.to_json().to_string()),
            Arg::text(at),
        ],
    )
}
