//! The alert queue and its digests (`domain::alerts`, migration 0022): SQL only.

use super::Arg;
use crate::auth::scope::{ProjectHandle, Scoped, Tenant};
use parityrail_core::domain::alerts::Item;
use parityrail_core::domain::incidents::Incident;
use parityrail_core::domain::time::Timestamp;
use parityrail_core::fault::Fallible;
use serde::Deserialize;

/// Queues an incident that opened (once: the incident is the key).
pub fn queue(pr: &ProjectHandle, i: &Incident) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "INSERT INTO alert_queue (org_id, project_id, incident_id, customer, kind, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (org_id, incident_id) DO NOTHING",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(&i.id),
            Arg::text(&i.customer),
            Arg::text(i.kind.as_str()),
            Arg::text(i.opened_at.to_rfc3339()),
        ],
    )
}

/// Up to `limit` queued incidents no digest holds yet, oldest first.
pub async fn queued(pr: &ProjectHandle, limit: usize) -> Fallible<Vec<Item>> {
    pr.tenant()
        .all(
            "SELECT incident_id, customer, kind FROM alert_queue WHERE org_id = ?1 AND project_id = ?2 \
             AND digest_id IS NULL ORDER BY created_at, incident_id LIMIT ?3",
            vec![Arg::text(pr.as_str()), Arg::Int(limit as i64)],
        )
        .await
}

/// A stored digest.
#[derive(Deserialize)]
pub struct DigestRow {
    pub id: String,
    pub recipients: String,
    pub subject: String,
    pub body: String,
    pub incidents: i64,
    pub attempts: i64,
    pub next_attempt_at: String,
}

/// How many queued incidents no digest holds yet.
pub async fn queued_count(pr: &ProjectHandle) -> Fallible<i64> {
    super::lists::count(
        pr.tenant(),
        "SELECT count(*) AS n FROM alert_queue WHERE org_id = ?1 AND project_id = ?2 AND digest_id IS NULL",
        vec![Arg::text(pr.as_str())],
    )
    .await
}

/// A new digest and every incident queued by `now` it takes (those still unclaimed), in one
/// batch.
pub fn open(pr: &ProjectHandle, d: &DigestRow, now: Timestamp) -> Fallible<Vec<Scoped>> {
    let t = pr.tenant();
    let at = now.to_rfc3339();
    let mut stmts = vec![t.stmt(
        "INSERT INTO alert_digests (org_id, project_id, id, status, recipients, subject, body, incidents, \
         attempts, next_attempt_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?9, ?9)",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(&d.id),
            Arg::text("pending"),
            Arg::text(&d.recipients),
            Arg::text(&d.subject),
            Arg::text(&d.body),
            Arg::Int(d.incidents),
            Arg::text(&at),
        ],
    )?];
    stmts.push(t.stmt(
        "UPDATE alert_queue SET digest_id = ?3 WHERE org_id = ?1 AND project_id = ?2 AND digest_id IS NULL \
         AND created_at <= ?4",
        vec![Arg::text(pr.as_str()), Arg::text(&d.id), Arg::text(&at)],
    )?);
    Ok(stmts)
}

/// The pending digest due first (due or not yet).
pub async fn first_pending(pr: &ProjectHandle) -> Fallible<Option<DigestRow>> {
    pr.tenant()
        .first(
            "SELECT id, recipients, subject, body, incidents, attempts, next_attempt_at FROM alert_digests \
             WHERE org_id = ?1 AND project_id = ?2 AND status = ?3 ORDER BY next_attempt_at LIMIT 1",
            vec![Arg::text(pr.as_str()), Arg::text("pending")],
        )
        .await
}

/// Whether a run of the project is going (one that moved in the last 30 minutes: a run stuck
/// as `running` holds no alert back for longer).
pub async fn running(pr: &ProjectHandle, now: Timestamp) -> Fallible<bool> {
    let n = super::lists::count(
        pr.tenant(),
        "SELECT count(*) AS n FROM runs WHERE org_id = ?1 AND project_id = ?2 AND status = ?3 \
         AND updated_at > ?4",
        vec![
            Arg::text(pr.as_str()),
            Arg::text("running"),
            Arg::text(now.plus_seconds(-1800).to_rfc3339()),
        ],
    )
    .await?;
    Ok(n > 0)
}

/// A digest's new state after a send.
pub fn settle(
    pr: &ProjectHandle,
    id: &str,
    status: &str,
    attempts: u32,
    next_at: Timestamp,
    error: Option<&str>,
    now: Timestamp,
) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "UPDATE alert_digests SET status = ?3, attempts = ?4, next_attempt_at = ?5, last_error = ?6, \
         updated_at = ?7 WHERE org_id = ?1 AND id = ?2",
        vec![
            Arg::text(id),
            Arg::text(status),
            Arg::Int(i64::from(attempts)),
            Arg::text(next_at.to_rfc3339()),
            error.map_or(Arg::Null, Arg::text),
            Arg::text(now.to_rfc3339()),
        ],
    )
}

/// The projects of the org with alert work: a digest due, or queued incidents.
pub async fn projects_with_work(t: &Tenant, now: Timestamp) -> Fallible<Vec<String>> {
    let mut ids = super::lists::project_ids(
        t,
        "SELECT DISTINCT project_id FROM alert_digests WHERE org_id = ?1 AND status = ?2 \
         AND next_attempt_at <= ?3 LIMIT 100",
        vec![Arg::text("pending"), Arg::text(now.to_rfc3339())],
    )
    .await?;
    ids.extend(
        super::lists::project_ids(
            t,
            "SELECT DISTINCT project_id FROM alert_queue WHERE org_id = ?1 AND digest_id IS NULL LIMIT 100",
            vec![],
        )
        .await?,
    );
    ids.sort();
    ids.dedup();
    Ok(ids)
}
