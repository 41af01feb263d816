//! Sealed credentials. Plaintext never reaches this module: rows hold the vault blob, the id of
//! the master key that sealed it and a non-secret JSON view.

use super::Arg;
use crate::auth::scope::{ProjectHandle, Scoped, Tenant};
use parityrail_core::fault::Fallible;
pub use parityrail_core::rows::credentials::CredentialRow;

const COLS: &str = "id, project_id, kind, slot, sealed, key_id, public, created_at, format";

pub async fn for_project(pr: &ProjectHandle) -> Fallible<Vec<CredentialRow>> {
    pr.tenant().all(
        &format!("SELECT {COLS} FROM credentials WHERE org_id = ?1 AND project_id = ?2 ORDER BY kind, slot"),
        vec![Arg::text(pr.as_str())],
    )
    .await
}

pub async fn get(t: &Tenant, id: &str) -> Fallible<Option<CredentialRow>> {
    t.first(
        &format!("SELECT {COLS} FROM credentials WHERE org_id = ?1 AND id = ?2"),
        vec![Arg::text(id)],
    )
    .await
}

/// Deletes every credential of a project (its removal).
pub fn delete_project(pr: &ProjectHandle) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "DELETE FROM credentials WHERE org_id = ?1 AND project_id = ?2",
        vec![Arg::text(pr.as_str())],
    )
}

pub fn delete_kinds(pr: &ProjectHandle, kinds: &[&str]) -> Fallible<Vec<Scoped>> {
    kinds
        .iter()
        .map(|k| {
            pr.tenant().stmt(
                "DELETE FROM credentials WHERE org_id = ?1 AND project_id = ?2 AND kind = ?3",
                vec![Arg::text(pr.as_str()), Arg::text(*k)],
            )
        })
        .collect()
}

/// Inserts a credential of the project `pr` (whatever project id the row carries).
pub fn insert(pr: &ProjectHandle, c: &CredentialRow) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "INSERT INTO credentials (org_id, id, project_id, kind, slot, sealed, key_id, public, created_at, format) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        vec![
            Arg::text(&c.id),
            Arg::text(pr.as_str()),
            Arg::text(&c.kind),
            Arg::Int(c.slot),
            Arg::text(&c.sealed),
            Arg::text(&c.key_id),
            Arg::text(&c.public),
            Arg::text(&c.created_at),
            Arg::Int(c.format),
        ],
    )
}

/// Replaces the blob of one credential (now sealed under `key_id` in `format`).
pub fn rewrap(t: &Tenant, id: &str, sealed: &str, key_id: &str, format: u8) -> Fallible<Scoped> {
    t.stmt(
        "UPDATE credentials SET sealed = ?3, key_id = ?4, format = ?5 WHERE org_id = ?1 AND id = ?2",
        vec![
            Arg::text(id),
            Arg::text(sealed),
            Arg::text(key_id),
            Arg::Int(i64::from(format)),
        ],
    )
}

/// Credentials not sealed under `key_id` in `format`, in id order after `after_id` (a cursor,
/// so a row that keeps failing is passed over instead of being picked first on every run).
pub async fn stale(
    t: &Tenant,
    key_id: &str,
    format: u8,
    after_id: &str,
    limit: u32,
) -> Fallible<Vec<CredentialRow>> {
    t.all(
        &format!(
            "SELECT {COLS} FROM credentials WHERE org_id = ?1 AND (key_id != ?2 OR format < ?5) \
             AND id > ?3 ORDER BY id LIMIT ?4"
        ),
        vec![
            Arg::text(key_id),
            Arg::text(after_id),
            Arg::Int(i64::from(limit)),
            Arg::Int(i64::from(format)),
        ],
    )
    .await
}
