//! Org signing keys (migration 0017): one row per org, the private half sealed.

use super::Arg;
use crate::auth::scope::{Scoped, Tenant};
use parityrail_core::fault::Fallible;
pub use parityrail_core::rows::signing::SigningKeyRow;
use serde::Deserialize;

const COLS: &str = "id, public_key, sealed, key_id, format, created_at";

pub async fn get(t: &Tenant) -> Fallible<Option<SigningKeyRow>> {
    t.first(
        &format!("SELECT {COLS} FROM signing_keys WHERE org_id = ?1"),
        vec![],
    )
    .await
}

pub fn insert(t: &Tenant, k: &SigningKeyRow) -> Fallible<Scoped> {
    t.stmt(
        "INSERT INTO signing_keys (org_id, id, public_key, sealed, key_id, format, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        vec![
            Arg::text(&k.id),
            Arg::text(&k.public_key),
            Arg::text(&k.sealed),
            Arg::text(&k.key_id),
            Arg::Int(k.format),
            Arg::text(&k.created_at),
        ],
    )
}

/// Ids of the org's key when it is not sealed under `key_id` in `format` (0 or 1 rows).
pub async fn stale(t: &Tenant, key_id: &str, format: u8, after_id: &str) -> Fallible<Vec<String>> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let rows: Vec<Id> = t
        .all(
            "SELECT id FROM signing_keys WHERE org_id = ?1 AND (key_id != ?2 OR format < ?3) AND id > ?4",
            vec![Arg::text(key_id), Arg::Int(i64::from(format)), Arg::text(after_id)],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Replaces the blob of the org's key, only if it is still the blob `was` (a concurrent re-wrap
/// changes nothing twice).
pub fn rewrap(
    t: &Tenant,
    id: &str,
    was: &str,
    sealed: &str,
    key_id: &str,
    format: u8,
) -> Fallible<Scoped> {
    t.stmt(
        "UPDATE signing_keys SET sealed = ?4, key_id = ?5, format = ?6 \
         WHERE org_id = ?1 AND id = ?2 AND sealed = ?3",
        vec![
            Arg::text(id),
            Arg::text(was),
            Arg::text(sealed),
            Arg::text(key_id),
            Arg::Int(i64::from(format)),
        ],
    )
}
