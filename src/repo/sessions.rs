//! Dashboard sessions and one-time e-mail links (migration 0020): hashes and non-secret fields
//! only. `by_token_hash`, `consume_link` and `memberships` run before a tenant is known (they
//! are how one is found) and only `auth` calls them; everything else is tenant-scoped.

use super::raw::raw_first;
use super::Arg;
use crate::auth::scope::{d1_within, Scoped, Tenant};
use crate::error::OrInternal;
use parityrail_core::fault::Fallible;
use parityrail_core::rows::sessions::{
    Link, LinkRow, MembershipRow, NewLink, NewSession, OpenSessionRow, SessionAuth, SessionRow,
};
use wasm_bindgen::JsValue;
use worker::D1Database;

const COLS: &str = "id, org_id, via, member_id, key_id, signed_in_role, step_up_key_id, \
                    step_up_until, created_at, last_seen_at";

/// The open session whose token hashes to `hash`, across orgs. A row that does not parse does
/// not open (as if absent).
pub async fn by_token_hash(db: &D1Database, hash: &str) -> Fallible<Option<SessionAuth>> {
    let sql = format!("SELECT {COLS} FROM sessions WHERE token_hash = ?1 AND ended_at IS NULL");
    let row: Option<SessionRow> = raw_first(db, &sql, &[Arg::text(hash)]).await?;
    Ok(row.and_then(SessionRow::parse))
}

/// Sets `used_at` on the unused, unexpired link whose token hashes to `hash` and returns it: one
/// conditional update, so of two concurrent uses exactly one gets the link.
/// A sign-in link is spent only by the browser whose nonce (its hash, `nonce`) it was sent for; a
/// step-up link only by the session (`session`, the cookie's) it was sent for.
pub async fn consume_link(
    db: &D1Database,
    hash: &str,
    nonce: &str,
    session: &str,
    now: &str,
) -> Fallible<Option<Link>> {
    let sql = "UPDATE login_links SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL \
               AND expires_at > ?2 AND (nonce_hash IS NULL OR nonce_hash = ?3) \
               AND (session_id IS NULL OR session_id = ?4) \
               RETURNING org_id, member_id, environment, purpose, session_id";
    let args = [
        Arg::text(hash),
        Arg::text(now),
        Arg::text(nonce),
        Arg::text(session),
    ];
    let row: Option<LinkRow> = raw_first(db, sql, &args).await?;
    Ok(row.and_then(LinkRow::parse))
}

/// The orgs `email` is a member of (at most `limit`), across orgs.
pub async fn memberships(db: &D1Database, email: &str, limit: u32) -> Fallible<Vec<MembershipRow>> {
    let stmt = db
        .prepare(
            "SELECT m.org_id AS org_id, o.name AS org_name, m.id AS member_id FROM members m \
             JOIN orgs o ON o.org_id = m.org_id WHERE m.email = ?1 ORDER BY m.org_id LIMIT ?2",
        )
        .bind(&[
            JsValue::from_str(email),
            JsValue::from_f64(f64::from(limit)),
        ])
        .or_internal()?;
    d1_within(stmt.all())
        .await?
        .or_internal()?
        .results()
        .or_internal()
}

pub fn insert(t: &Tenant, s: &NewSession) -> Fallible<Scoped> {
    let a = &s.auth;
    t.stmt(
        "INSERT INTO sessions (org_id, id, token_hash, via, member_id, key_id, signed_in_role, \
         created_at, last_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        vec![
            Arg::text(&a.id),
            Arg::text(s.token.hash()),
            Arg::text(a.via.as_str()),
            Arg::text(a.member.as_str()),
            Arg::text(a.key_id.as_str()),
            Arg::text(a.signed_in_role.as_str()),
            Arg::text(a.life.created_at.to_rfc3339()),
        ],
    )
}

pub async fn touch(t: &Tenant, id: &str, at: &str) -> Fallible<()> {
    t.run(
        "UPDATE sessions SET last_seen_at = ?3 WHERE org_id = ?1 AND id = ?2 AND ended_at IS NULL",
        vec![Arg::text(id), Arg::text(at)],
    )
    .await
}

/// Ends a session (sign-out, expiry, a dead key): it never opens again.
pub fn end(t: &Tenant, id: &str, at: &str) -> Fallible<Scoped> {
    t.stmt(
        "UPDATE sessions SET ended_at = ?3 WHERE org_id = ?1 AND id = ?2 AND ended_at IS NULL",
        vec![Arg::text(id), Arg::text(at)],
    )
}

/// A member's open sessions.
pub async fn open_for_member(t: &Tenant, member_id: &str) -> Fallible<Vec<OpenSessionRow>> {
    t.all(
        "SELECT id, via, key_id, step_up_key_id FROM sessions WHERE org_id = ?1 AND member_id = ?2 \
         AND ended_at IS NULL ORDER BY id",
        vec![Arg::text(member_id)],
    )
    .await
}

/// Revokes the keys minted for a session (never the API key a session signed in with).
pub fn revoke_session_keys(t: &Tenant, ids: &[&str], at: &str) -> Fallible<Vec<Scoped>> {
    ids.iter()
        .map(|id| {
            t.stmt(
                "UPDATE api_keys SET revoked_at = ?3 WHERE org_id = ?1 AND id = ?2 \
                 AND purpose = ?4 AND revoked_at IS NULL",
                vec![Arg::text(*id), Arg::text(at), Arg::text("session")],
            )
        })
        .collect()
}

/// Records a confirmed step-up: the session acts with `key_id` until `until`. Only an open
/// session of that member steps up.
pub fn step_up(
    t: &Tenant,
    id: &str,
    member_id: &str,
    key_id: &str,
    until: &str,
) -> Fallible<Scoped> {
    t.stmt(
        "UPDATE sessions SET step_up_key_id = ?4, step_up_until = ?5 WHERE org_id = ?1 AND id = ?2 \
         AND member_id = ?3 AND ended_at IS NULL",
        vec![
            Arg::text(id),
            Arg::text(member_id),
            Arg::text(key_id),
            Arg::text(until),
        ],
    )
}

pub async fn insert_link(t: &Tenant, l: &NewLink) -> Fallible<()> {
    t.run(
        "INSERT INTO login_links (org_id, token_hash, member_id, environment, purpose, session_id, \
         created_at, expires_at, nonce_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        vec![
            Arg::text(l.token.hash()),
            Arg::text(&l.member_id),
            Arg::text(l.environment.as_str()),
            Arg::text(l.purpose.as_str()),
            Arg::opt(l.session_id.as_deref()),
            Arg::text(l.created_at.to_rfc3339()),
            Arg::text(l.expires_at.to_rfc3339()),
            Arg::opt(l.nonce_hash.as_deref()),
        ],
    )
    .await
}
