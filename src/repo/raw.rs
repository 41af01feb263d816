//! The one query shape that runs before a tenant is known (authentication finding one): the
//! first row, its arguments bound as `?1…`. Only `auth` reaches the raw D1 it takes.

use super::Arg;
use crate::auth::scope::d1_within;
use crate::error::OrInternal;
use parityrail_core::fault::Fallible;
use wasm_bindgen::JsValue;
use worker::D1Database;

pub async fn raw_first<T: serde::de::DeserializeOwned>(
    db: &D1Database,
    sql: &str,
    args: &[Arg],
) -> Fallible<Option<T>> {
    let values: Vec<JsValue> = args.iter().map(crate::repo::to_js).collect();
    let stmt = db.prepare(sql).bind(&values).or_internal()?;
    d1_within(stmt.first(None)).await?.or_internal()
}
