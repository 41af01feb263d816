//! API key records: hash and non-secret fields only. `by_hash` is the one key query that runs
//! before a tenant is known (authentication); it parses the row into the domain's types at
//! the boundary (`parityrail_core::rows::keys`), and only `auth` calls it.

use super::raw::raw_first;
use super::Arg;
use crate::auth::scope::{ProjectHandle, Scoped, Tenant};
use parityrail_core::domain::roles::Role;
use parityrail_core::fault::{Fallible, Fault};
use parityrail_core::rows::keys::KeyAuthRow;
pub use parityrail_core::rows::keys::{KeyAuth, KeyRow};
use worker::D1Database;

/// The key with this SHA-256 hash and its member's role, across all orgs (authentication).
pub async fn by_hash(db: &D1Database, key_hash: &str) -> Fallible<Option<KeyAuth>> {
    let sql = format!("{AUTH_SELECT} WHERE k.key_hash = ?1 AND k.purpose = 'api'");
    let row: Option<KeyAuthRow> = raw_first(db, &sql, &[Arg::text(key_hash)]).await?;
    match row {
        None => Ok(None),
        Some(r) => r.parse().map(Some).ok_or(Fault::CallerRevoked),
    }
}

/// What authentication reads of a key: the key joined with its member's role.
const AUTH_SELECT: &str = "SELECT k.id, k.org_id, k.member_id, k.environment, k.project_id, \
    k.capability, k.expires_at, k.revoked_at, k.last_used_at, m.role, k.minted_by, k.minted_role \
    FROM api_keys k JOIN members m ON m.id = k.member_id AND m.org_id = k.org_id";

/// The key a dashboard session acts with, and its member's role (a session's authentication,
/// before a tenant is handed out: the same checks as `by_hash` follow).
pub async fn auth_by_id(db: &D1Database, org: &str, id: &str) -> Fallible<Option<KeyAuth>> {
    let sql = format!("{AUTH_SELECT} WHERE k.org_id = ?1 AND k.id = ?2");
    let row: Option<KeyAuthRow> = raw_first(db, &sql, &[Arg::text(org), Arg::text(id)]).await?;
    Ok(row.and_then(KeyAuthRow::parse))
}

const COLS: &str =
    "id, name, prefix, last4, environment, project_id, capability, member_id, minted_by, minted_role, minted_via, created_at, last_used_at, expires_at, revoked_at";

pub async fn get(t: &Tenant, id: &str) -> Fallible<Option<KeyRow>> {
    t.first(
        &format!("SELECT {COLS} FROM api_keys WHERE org_id = ?1 AND id = ?2"),
        vec![Arg::text(id)],
    )
    .await
}

/// An API key by id, as the keys API sees it: a key minted for a dashboard session is not one.
pub async fn get_api(t: &Tenant, id: &str) -> Fallible<Option<KeyRow>> {
    t.first(
        &format!("SELECT {COLS} FROM api_keys WHERE org_id = ?1 AND id = ?2 AND purpose = ?3"),
        vec![Arg::text(id), Arg::text("api")],
    )
    .await
}

pub async fn list(
    t: &Tenant,
    only_project: Option<&str>,
    only_environment: Option<&str>,
    after: Option<&str>,
    limit: u32,
) -> Fallible<Vec<KeyRow>> {
    t.all(
        &format!(
            "SELECT {COLS} FROM api_keys WHERE org_id = ?1 AND (?2 IS NULL OR project_id = ?2) \
             AND (?5 IS NULL OR environment = ?5) AND purpose = ?6 AND id > ?3 ORDER BY id LIMIT ?4"
        ),
        vec![
            Arg::opt(only_project),
            Arg::text(after.unwrap_or("")),
            Arg::Int(i64::from(limit)),
            Arg::opt(only_environment),
            Arg::text("api"),
        ],
    )
    .await
}

pub fn insert(t: &Tenant, k: &KeyRow, key_hash: &str) -> Fallible<Scoped> {
    insert_as(t, k, key_hash, "api")
}

/// `insert` of a key for `purpose` (`api`, or `session`: minted for a dashboard session).
pub fn insert_as(t: &Tenant, k: &KeyRow, key_hash: &str, purpose: &str) -> Fallible<Scoped> {
    t.stmt(
        "INSERT INTO api_keys (org_id, id, key_hash, prefix, last4, name, environment, project_id, capability, \
         member_id, created_at, expires_at, minted_by, minted_role, minted_via, purpose) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        vec![
            Arg::text(&k.id),
            Arg::text(key_hash),
            Arg::text(&k.prefix),
            Arg::text(&k.last4),
            Arg::text(&k.name),
            Arg::text(k.environment.as_str()),
            Arg::opt(k.project_id.as_deref()),
            Arg::text(k.capability.as_str()),
            Arg::text(&k.member_id),
            Arg::text(&k.created_at),
            Arg::opt(k.expires_at.as_deref()),
            Arg::opt(k.minted_by.as_deref()),
            Arg::opt(k.minted_role.map(Role::as_str)),
            Arg::opt(k.minted_via.as_deref()),
            Arg::text(purpose),
        ],
    )
}

pub fn revoke(t: &Tenant, id: &str, at: &str) -> Fallible<Scoped> {
    t.stmt(
        "UPDATE api_keys SET revoked_at = ?3 WHERE org_id = ?1 AND id = ?2 AND revoked_at IS NULL",
        vec![Arg::text(id), Arg::text(at)],
    )
}

/// Lowers the most a key acts with (its minter was demoted).
pub fn set_cap(t: &Tenant, id: &str, cap: &str) -> Fallible<Scoped> {
    t.stmt(
        "UPDATE api_keys SET minted_role = ?3 WHERE org_id = ?1 AND id = ?2",
        vec![Arg::text(id), Arg::text(cap)],
    )
}

pub fn set_expiry(t: &Tenant, id: &str, expires_at: &str) -> Fallible<Scoped> {
    t.stmt(
        "UPDATE api_keys SET expires_at = ?3 WHERE org_id = ?1 AND id = ?2",
        vec![Arg::text(id), Arg::text(expires_at)],
    )
}

/// The unrevoked keys that act for one member, that it minted, or that were minted through its
/// keys (its removal revokes all three: it may hold any of them).
pub async fn active_for_member(t: &Tenant, member_id: &str) -> Fallible<Vec<KeyRow>> {
    t.all(
        &format!(
            "SELECT {COLS} FROM api_keys WHERE org_id = ?1 AND revoked_at IS NULL \
             AND (member_id = ?2 OR minted_by = ?2 OR minted_via = ?2) ORDER BY id"
        ),
        vec![Arg::text(member_id)],
    )
    .await
}

/// The unrevoked keys limited to one project, for the audit entries of its removal.
pub async fn active_for_project(pr: &ProjectHandle) -> Fallible<Vec<KeyRow>> {
    pr.tenant()
        .all(
            &format!(
                "SELECT {COLS} FROM api_keys WHERE org_id = ?1 AND project_id = ?2 AND revoked_at IS NULL ORDER BY id"
            ),
            vec![Arg::text(pr.as_str())],
        )
        .await
}

pub fn revoke_member_keys(t: &Tenant, member_id: &str, at: &str) -> Fallible<Scoped> {
    t.stmt(
        "UPDATE api_keys SET revoked_at = ?3 WHERE org_id = ?1 AND revoked_at IS NULL \
         AND (member_id = ?2 OR minted_by = ?2 OR minted_via = ?2)",
        vec![Arg::text(member_id), Arg::text(at)],
    )
}

pub fn revoke_project_keys(pr: &ProjectHandle, at: &str) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "UPDATE api_keys SET revoked_at = ?3 WHERE org_id = ?1 AND project_id = ?2 AND revoked_at IS NULL",
        vec![Arg::text(pr.as_str()), Arg::text(at)],
    )
}

pub async fn touch(t: &Tenant, id: &str, at: &str) -> Fallible<()> {
    t.run(
        "UPDATE api_keys SET last_used_at = ?3 WHERE org_id = ?1 AND id = ?2",
        vec![Arg::text(id), Arg::text(at)],
    )
    .await
}
