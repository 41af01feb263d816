//! The audit_log table: append (in the caller's batch) and read by sequence. UPDATE and DELETE
//! are refused by triggers in D1 itself (migrations/0001).

use super::Arg;
use crate::auth::scope::{Scoped, Tenant};
use parityrail_core::domain::audit::AuditEntry;
use parityrail_core::domain::canonical::to_canonical;
use parityrail_core::fault::Fallible;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Row {
    seq: u64,
    at: String,
    actor: String,
    action: String,
    target: String,
    before: String,
    after: String,
    prev_hash: String,
    hash: String,
}

impl Row {
    fn into_entry(self) -> AuditEntry {
        // A stored value that is not JSON (only possible by tampering) stays a string, so the
        // verifier reports a hash mismatch instead of the read failing.
        let parse = |s: String| serde_json::from_str::<Value>(&s).unwrap_or(Value::String(s));
        AuditEntry {
            seq: self.seq,
            at: self.at,
            actor: self.actor,
            action: self.action,
            target: self.target,
            before: parse(self.before),
            after: parse(self.after),
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

const SELECT_ENTRY: &str =
    "SELECT seq, at, actor, action, target, before, after, prev_hash, hash FROM audit_log";

#[derive(Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
    pub at: String,
}

pub async fn head(t: &Tenant, chain: &str) -> Fallible<Option<Head>> {
    t.first(
        "SELECT seq, hash, at FROM audit_log WHERE org_id = ?1 AND chain = ?2 ORDER BY seq DESC LIMIT 1",
        vec![Arg::text(chain)],
    )
    .await
}

pub fn insert(
    t: &Tenant,
    chain: &str,
    project_id: Option<&str>,
    e: &AuditEntry,
) -> Fallible<Scoped> {
    t.stmt(
        "INSERT INTO audit_log (org_id, chain, seq, project_id, at, actor, action, target, before, after, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        vec![
            Arg::text(chain),
            Arg::Int(e.seq as i64),
            Arg::opt(project_id),
            Arg::text(&e.at),
            Arg::text(&e.actor),
            Arg::text(&e.action),
            Arg::text(&e.target),
            Arg::Text(to_canonical(&e.before)),
            Arg::Text(to_canonical(&e.after)),
            Arg::text(&e.prev_hash),
            Arg::text(&e.hash),
        ],
    )
}

pub async fn page(
    t: &Tenant,
    chain: &str,
    after_seq: u64,
    limit: u32,
) -> Fallible<Vec<AuditEntry>> {
    let rows: Vec<Row> = t
        .all(
            &format!("{SELECT_ENTRY} WHERE org_id = ?1 AND chain = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4"),
            vec![
                Arg::text(chain),
                Arg::Int(after_seq as i64),
                Arg::Int(i64::from(limit)),
            ],
        )
        .await?;
    Ok(rows.into_iter().map(Row::into_entry).collect())
}

/// The entries of `chain` after `after_seq` whose `after` names `customer` (incidents and repairs
/// carry their customer): the access ledger of SPEC §9, built from the audit log alone, found
/// through the `audit_customers` index (migration 0015).
pub async fn page_for_customer(
    t: &Tenant,
    chain: &str,
    customer: &str,
    after_seq: u64,
    limit: u32,
) -> Fallible<Vec<AuditEntry>> {
    let rows: Vec<Row> = t
        .all(
            &format!(
                "{SELECT_ENTRY} WHERE org_id = ?1 AND chain = ?2 AND seq IN \
                 (SELECT seq FROM audit_customers WHERE org_id = ?1 AND chain = ?2 \
                  AND customer = ?3 AND seq > ?4 ORDER BY seq LIMIT ?5) ORDER BY seq"
            ),
            vec![
                Arg::text(chain),
                Arg::text(customer),
                Arg::Int(after_seq as i64),
                Arg::Int(i64::from(limit)),
            ],
        )
        .await?;
    Ok(rows.into_iter().map(Row::into_entry).collect())
}
