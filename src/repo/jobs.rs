//! Scheduled jobs' positions (`job_state`): no tenant data, so these are unscoped statements;
//! only `auth`'s system helpers (which need a `SystemGrant`) call them.

use crate::auth::scope::d1_within;
use crate::error::OrInternal;
use parityrail_core::fault::Fallible;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::D1Database;

/// The saved position of `job` ("" when it has none or finished a full pass).
pub async fn cursor(db: &D1Database, job: &str) -> Fallible<String> {
    #[derive(Deserialize)]
    struct R {
        cursor: String,
    }
    let query = db
        .prepare("SELECT cursor FROM job_state WHERE job = ?1")
        .bind(&[JsValue::from_str(job)])
        .or_internal()?;
    let row: Option<R> = d1_within(query.first(None)).await?.or_internal()?;
    Ok(row.map(|r| r.cursor).unwrap_or_default())
}

pub async fn save_cursor(db: &D1Database, job: &str, cursor: &str, at: &str) -> Fallible<()> {
    let save = db.prepare(
        "INSERT INTO job_state (job, cursor, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (job) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
    )
    .bind(&[
        JsValue::from_str(job),
        JsValue::from_str(cursor),
        JsValue::from_str(at),
    ]).or_internal()?;
    d1_within(save.run()).await?.or_internal()?;
    Ok(())
}
