//! Incidents and their snapshots: the SQL. Rows parse into `domain::incidents::Incident` as they
//! are read (`parityrail_core::rows::incidents`); nothing above this module sees a status or
//! kind as a string.

use super::Arg;
use crate::auth::scope::{ProjectHandle, Scoped, Tenant};
use parityrail_core::domain::incidents::{Incident, IncidentStatus};
use parityrail_core::domain::reconcile::IncidentKind;
use parityrail_core::domain::time::Timestamp;
use parityrail_core::fault::Fallible;
pub use parityrail_core::rows::incidents::{IncidentRow, SnapshotRow};
use serde::Deserialize;

const COLS: &str = "id, kind, customer, status, severity, expected, actual, fingerprint, \
                    opened_at, updated_at, resolved_at, reason, repair_id";

pub async fn get(pr: &ProjectHandle, id: &str) -> Fallible<Option<Incident>> {
    let row: Option<IncidentRow> = pr
        .tenant()
        .first(
            &format!(
                "SELECT {COLS} FROM incidents WHERE org_id = ?1 AND project_id = ?2 AND id = ?3"
            ),
            vec![Arg::text(pr.as_str()), Arg::text(id)],
        )
        .await?;
    row.map(IncidentRow::parse).transpose()
}

/// One customer's `open` and `ignored` incidents (what a check plans against).
pub async fn live_for_customer(pr: &ProjectHandle, customer: &str) -> Fallible<Vec<Incident>> {
    let rows: Vec<IncidentRow> = pr
        .tenant()
        .all(
            &format!(
                "SELECT {COLS} FROM incidents WHERE org_id = ?1 AND project_id = ?2 \
                 AND customer = ?3 AND status IN (?4, ?5) ORDER BY id"
            ),
            vec![
                Arg::text(pr.as_str()),
                Arg::text(customer),
                Arg::text("open"),
                Arg::text("ignored"),
            ],
        )
        .await?;
    IncidentRow::parse_all(rows)
}

/// The `open` and `ignored` incidents of the customers in `(after, upto]` (`upto: None`: to the
/// end), by customer: what one step of a run plans against.
pub async fn live_in_range(
    pr: &ProjectHandle,
    after: &str,
    upto: Option<&str>,
) -> Fallible<Vec<Incident>> {
    let rows: Vec<IncidentRow> = pr
        .tenant()
        .all(
            &format!(
                "SELECT {COLS} FROM incidents WHERE org_id = ?1 AND project_id = ?2 \
                 AND customer > ?3 AND (?4 IS NULL OR customer <= ?4) AND status IN (?5, ?6) \
                 ORDER BY customer, id"
            ),
            vec![
                Arg::text(pr.as_str()),
                Arg::text(after),
                Arg::opt(upto),
                Arg::text("open"),
                Arg::text("ignored"),
            ],
        )
        .await?;
    IncidentRow::parse_all(rows)
}

/// The customers in `(after, upto]` that something fresher than a run started at `since` has
/// decided about: an incident of theirs changed since, or an event of theirs arrived since (its
/// check re-reads Stripe after the run did). A run leaves them alone.
pub async fn touched_since(
    pr: &ProjectHandle,
    after: &str,
    upto: Option<&str>,
    since: &str,
) -> Fallible<std::collections::BTreeSet<String>> {
    #[derive(Deserialize)]
    struct C {
        customer: String,
    }
    let args = || {
        vec![
            Arg::text(pr.as_str()),
            Arg::text(after),
            Arg::opt(upto),
            Arg::text(since),
        ]
    };
    let incidents: Vec<C> = pr
        .tenant()
        .all(
            "SELECT DISTINCT customer FROM incidents WHERE org_id = ?1 AND project_id = ?2 \
             AND customer > ?3 AND (?4 IS NULL OR customer <= ?4) AND updated_at >= ?5",
            args(),
        )
        .await?;
    let events: Vec<C> = pr
        .tenant()
        .all(
            "SELECT DISTINCT customer FROM outbox WHERE org_id = ?1 AND project_id = ?2 \
             AND customer > ?3 AND (?4 IS NULL OR customer <= ?4) AND created_at >= ?5",
            args(),
        )
        .await?;
    Ok(incidents
        .into_iter()
        .chain(events)
        .map(|c| c.customer)
        .collect())
}

/// Filters of `GET …/incidents`.
#[derive(Default)]
pub struct Filter {
    pub status: Option<IncidentStatus>,
    pub kind: Option<IncidentKind>,
    pub customer: Option<String>,
}

/// A page of the project's incidents by id, after `after`, matching `f`.
pub async fn list(
    pr: &ProjectHandle,
    f: &Filter,
    after: &str,
    limit: u32,
) -> Fallible<Vec<Incident>> {
    // Each filter is bound; an absent one is NULL and matches everything.
    let rows: Vec<IncidentRow> = pr
        .tenant()
        .all(
            &format!(
                "SELECT {COLS} FROM incidents WHERE org_id = ?1 AND project_id = ?2 AND id > ?3 \
                 AND (?4 IS NULL OR status = ?4) AND (?5 IS NULL OR kind = ?5) \
                 AND (?6 IS NULL OR customer = ?6) ORDER BY id LIMIT ?7"
            ),
            vec![
                Arg::text(pr.as_str()),
                Arg::text(after),
                Arg::opt(f.status.map(IncidentStatus::as_str)),
                Arg::opt(f.kind.map(IncidentKind::as_str)),
                Arg::opt(f.customer.clone()),
                Arg::Int(i64::from(limit)),
            ],
        )
        .await?;
    IncidentRow::parse_all(rows)
}

fn json(v: &impl serde::Serialize) -> Arg {
    Arg::text(serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned()))
}

pub fn insert(pr: &ProjectHandle, i: &Incident) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "INSERT INTO incidents (org_id, project_id, id, customer, kind, status, severity, expected, \
         actual, fingerprint, opened_at, updated_at, resolved_at, reason, repair_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(&i.id),
            Arg::text(&i.customer),
            Arg::text(i.kind.as_str()),
            Arg::text(i.status.as_str()),
            Arg::text(&i.severity),
            json(&i.expected),
            json(&i.actual),
            Arg::text(&i.fingerprint),
            Arg::text(i.opened_at.to_rfc3339()),
            Arg::text(i.updated_at.to_rfc3339()),
            Arg::opt(i.resolved_at.map(Timestamp::to_rfc3339)),
            Arg::opt(i.reason.clone()),
            Arg::opt(i.repair_id.clone()),
        ],
    )
}

/// Replaces a stored incident's changing fields with `after`'s, only if the row is still
/// exactly `before` (status and `updated_at`): a lost race changes nothing (and the audit
/// chain, appended in the same batch, makes the writer run again).
pub fn update(pr: &ProjectHandle, before: &Incident, after: &Incident) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "UPDATE incidents SET status = ?3, expected = ?4, actual = ?5, fingerprint = ?6, \
         updated_at = ?7, resolved_at = ?8, reason = ?9, repair_id = ?10 \
         WHERE org_id = ?1 AND project_id = ?2 AND id = ?11 AND status = ?12 AND updated_at = ?13",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(after.status.as_str()),
            json(&after.expected),
            json(&after.actual),
            Arg::text(&after.fingerprint),
            Arg::text(after.updated_at.to_rfc3339()),
            Arg::opt(after.resolved_at.map(Timestamp::to_rfc3339)),
            Arg::opt(after.reason.clone()),
            Arg::opt(after.repair_id.clone()),
            Arg::text(&before.id),
            Arg::text(before.status.as_str()),
            Arg::text(before.updated_at.to_rfc3339()),
        ],
    )
}

/// The state snapshot of an incident as it opened.
pub fn snapshot(
    pr: &ProjectHandle,
    id: &str,
    i: &Incident,
    stripe: &serde_json::Value,
    app: &serde_json::Value,
) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "INSERT INTO snapshots (org_id, project_id, id, incident_id, customer, stripe, app, taken_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(id),
            Arg::text(&i.id),
            Arg::text(&i.customer),
            Arg::text(stripe.to_string()),
            Arg::text(app.to_string()),
            Arg::text(i.opened_at.to_rfc3339()),
        ],
    )
}

/// Snapshots of `incident_id` (normally one).
pub async fn snapshots_of(pr: &ProjectHandle, incident_id: &str) -> Fallible<Vec<SnapshotRow>> {
    pr.tenant()
        .all(
            "SELECT stripe, app, taken_at FROM snapshots WHERE org_id = ?1 AND project_id = ?2 \
             AND incident_id = ?3 ORDER BY taken_at",
            vec![Arg::text(pr.as_str()), Arg::text(incident_id)],
        )
        .await
}

/// Deletes up to `limit` of the org's snapshots taken before `before` (SPEC §6: kept 90
/// days); how many.
pub async fn prune_snapshots(t: &Tenant, before: &str, limit: u32) -> Fallible<u64> {
    let done = t
        .batch(vec![t.stmt(
            "DELETE FROM snapshots WHERE org_id = ?1 AND id IN \
             (SELECT id FROM snapshots WHERE org_id = ?1 AND taken_at < ?2 LIMIT ?3)",
            vec![Arg::text(before), Arg::Int(i64::from(limit))],
        )?])
        .await?;
    let changes = done
        .first()
        .and_then(|r| r.meta().ok().flatten())
        .and_then(|m| m.changes)
        .unwrap_or(0);
    Ok(changes as u64)
}
