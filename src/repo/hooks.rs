//! Outbound webhook endpoints, the event cursor, events, deliveries and their attempts
//! (`domain::hooks`, migration 0023): SQL only. The sealed secrets are read only by the drain
//! and the rotation; no view carries them.

use super::Arg;
use crate::auth::scope::{ProjectHandle, Scoped, Tenant};
use parityrail_core::domain::time::Timestamp;
use parityrail_core::fault::Fallible;
use parityrail_core::rows::hooks::{AttemptRow, DeliveryRow, EndpointRow, EventRow};
use serde::Deserialize;

const ENDPOINT_COLS: &str =
    "id, url, description, events, status, disabled_reason, secret_sealed, \
     old_secret_sealed, old_secret_until, from_seq, failing_since, created_at, updated_at";

/// Every endpoint of the project, oldest first.
pub async fn endpoints(pr: &ProjectHandle) -> Fallible<Vec<EndpointRow>> {
    pr.tenant()
        .all(
            &format!(
                "SELECT {ENDPOINT_COLS} FROM hook_endpoints WHERE org_id = ?1 AND project_id = ?2 \
                 ORDER BY created_at, id"
            ),
            vec![Arg::text(pr.as_str())],
        )
        .await
}

pub fn insert_endpoint(pr: &ProjectHandle, e: &EndpointRow) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "INSERT INTO hook_endpoints (org_id, project_id, id, url, description, events, status, \
         secret_sealed, from_seq, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(&e.id),
            Arg::text(&e.url),
            Arg::text(&e.description),
            Arg::text(&e.events),
            Arg::text(&e.status),
            Arg::text(&e.secret_sealed),
            Arg::Int(e.from_seq),
            Arg::text(&e.created_at),
        ],
    )
}

/// An endpoint as `after` has it (read in the same append-protocol try): its settings, status
/// and secrets.
pub fn update_endpoint(pr: &ProjectHandle, after: &EndpointRow) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "UPDATE hook_endpoints SET url = ?3, description = ?4, events = ?5, status = ?6, disabled_reason = ?7, \
         failing_since = ?8, updated_at = ?9, from_seq = ?11, secret_sealed = ?12, old_secret_sealed = ?13, \
         old_secret_until = ?14 WHERE org_id = ?1 AND project_id = ?2 AND id = ?10",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(&after.url),
            Arg::text(&after.description),
            Arg::text(&after.events),
            Arg::text(&after.status),
            Arg::opt(after.disabled_reason.clone()),
            Arg::opt(after.failing_since.clone()),
            Arg::text(&after.updated_at),
            Arg::text(&after.id),
            Arg::Int(after.from_seq),
            Arg::text(&after.secret_sealed),
            Arg::opt(after.old_secret_sealed.clone()),
            Arg::opt(after.old_secret_until.clone()),
        ],
    )
}

/// An endpoint's run of failures: begun at `since` (kept when one is going), or ended (`None`).
pub fn failing(pr: &ProjectHandle, id: &str, since: Option<&str>) -> Fallible<Scoped> {
    let sql = match since {
        Some(_) => "UPDATE hook_endpoints SET failing_since = coalesce(failing_since, ?3) \
             WHERE org_id = ?1 AND project_id = ?2 AND id = ?4",
        None => "UPDATE hook_endpoints SET failing_since = ?3 WHERE org_id = ?1 AND project_id = ?2 AND id = ?4",
    };
    pr.tenant().stmt(
        sql,
        vec![Arg::text(pr.as_str()), Arg::opt(since), Arg::text(id)],
    )
}

/// Deletes an endpoint with its deliveries and their attempts.
pub fn delete_endpoint(pr: &ProjectHandle, id: &str) -> Fallible<Vec<Scoped>> {
    let t = pr.tenant();
    let args = || vec![Arg::text(pr.as_str()), Arg::text(id)];
    Ok(vec![
        t.stmt(
            "DELETE FROM hook_attempts WHERE org_id = ?1 AND project_id = ?2 AND delivery_id IN \
             (SELECT id FROM hook_deliveries WHERE org_id = ?1 AND project_id = ?2 AND endpoint_id = ?3)",
            args(),
        )?,
        t.stmt(
            "DELETE FROM hook_deliveries WHERE org_id = ?1 AND project_id = ?2 AND endpoint_id = ?3",
            args(),
        )?,
        t.stmt(
            "DELETE FROM hook_endpoints WHERE org_id = ?1 AND project_id = ?2 AND id = ?3",
            args(),
        )?,
    ])
}

/// Disables an enabled endpoint (the system's: nothing else of it changes).
pub fn disable(pr: &ProjectHandle, id: &str, why: &str, now: &str) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "UPDATE hook_endpoints SET status = ?3, disabled_reason = ?4, updated_at = ?5 WHERE org_id = ?1 \
         AND project_id = ?2 AND id = ?6 AND status = ?7",
        vec![
            Arg::text(pr.as_str()),
            Arg::text("disabled"),
            Arg::text(why),
            Arg::text(now),
            Arg::text(id),
            Arg::text("enabled"),
        ],
    )
}

/// Fails the pending deliveries `of` names (`Delivery`: one not to be sent; `Endpoint`: every
/// one of an endpoint that was disabled).
pub fn fail(pr: &ProjectHandle, of: Of, id: &str, why: &str, now: &str) -> Fallible<Scoped> {
    let sql = match of {
        Of::Delivery => "UPDATE hook_deliveries SET status = ?3, last_error = ?4, updated_at = ?5 WHERE org_id = ?1 \
             AND project_id = ?2 AND id = ?6 AND status = ?7",
        Of::Endpoint => "UPDATE hook_deliveries SET status = ?3, last_error = ?4, updated_at = ?5 WHERE org_id = ?1 \
             AND project_id = ?2 AND endpoint_id = ?6 AND status = ?7",
    };
    let args = [pr.as_str(), "failed", why, now, id, "pending"];
    pr.tenant()
        .stmt(sql, args.iter().map(|a| Arg::text(*a)).collect())
}

/// What `fail` fails.
pub enum Of {
    Delivery,
    Endpoint,
}

/// Where the project's event walk stands (the last audit seq it looked at).
pub async fn cursor(pr: &ProjectHandle) -> Fallible<Option<i64>> {
    #[derive(Deserialize)]
    struct C {
        seq: i64,
    }
    let c: Option<C> = pr
        .tenant()
        .first(
            "SELECT seq FROM hook_cursors WHERE org_id = ?1 AND project_id = ?2",
            vec![Arg::text(pr.as_str())],
        )
        .await?;
    Ok(c.map(|c| c.seq))
}

/// The walk's first position (kept when one exists).
pub fn start_cursor(pr: &ProjectHandle, seq: i64) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "INSERT INTO hook_cursors (org_id, project_id, seq) VALUES (?1, ?2, ?3) \
         ON CONFLICT (org_id, project_id) DO NOTHING",
        vec![Arg::text(pr.as_str()), Arg::Int(seq)],
    )
}

/// Moves the walk to `seq` (never back: a late batch of an older drain cannot undo a newer).
pub fn move_cursor(pr: &ProjectHandle, seq: i64) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "INSERT INTO hook_cursors (org_id, project_id, seq) VALUES (?1, ?2, ?3) \
         ON CONFLICT (org_id, project_id) DO UPDATE SET seq = max(seq, excluded.seq) WHERE org_id = ?1",
        vec![Arg::text(pr.as_str()), Arg::Int(seq)],
    )
}

/// An event, once per audit entry (a second store of the same entry fails the batch).
pub fn insert_event(pr: &ProjectHandle, e: &EventRow, now: &str) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "INSERT INTO hook_events (org_id, project_id, id, seq, type, payload, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(&e.id),
            Arg::Int(e.seq),
            Arg::text(&e.ty),
            Arg::text(&e.payload),
            Arg::text(now),
        ],
    )
}

pub async fn event(pr: &ProjectHandle, id: &str) -> Fallible<Option<EventRow>> {
    pr.tenant()
        .first(
            "SELECT id, seq, type, payload FROM hook_events WHERE org_id = ?1 AND project_id = ?2 AND id = ?3",
            vec![Arg::text(pr.as_str()), Arg::text(id)],
        )
        .await
}

const DELIVERY_COLS: &str =
    "id, endpoint_id, event_id, event_type, status, attempts, next_attempt_at, \
     last_status, last_error, created_at, updated_at";

/// A new delivery.
pub fn insert_delivery(pr: &ProjectHandle, d: &DeliveryRow) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "INSERT INTO hook_deliveries (org_id, project_id, id, endpoint_id, event_id, event_type, status, \
         attempts, next_attempt_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?8, ?8)",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(&d.id),
            Arg::text(&d.endpoint_id),
            Arg::text(&d.event_id),
            Arg::text(&d.event_type),
            Arg::text(&d.status),
            Arg::text(&d.created_at),
        ],
    )
}

/// Up to `limit` pending deliveries due by `now`, the longest due first.
pub async fn due(pr: &ProjectHandle, now: &str, limit: u32) -> Fallible<Vec<DeliveryRow>> {
    pr.tenant()
        .all(
            &format!(
                "SELECT {DELIVERY_COLS} FROM hook_deliveries WHERE org_id = ?1 AND project_id = ?2 \
                 AND status = ?3 AND next_attempt_at <= ?4 ORDER BY next_attempt_at, id LIMIT ?5"
            ),
            vec![
                Arg::text(pr.as_str()),
                Arg::text("pending"),
                Arg::text(now),
                Arg::Int(i64::from(limit)),
            ],
        )
        .await
}

/// When the first pending delivery is due (read through the shared one-column row decoder).
pub async fn next_due(pr: &ProjectHandle) -> Fallible<Option<String>> {
    let rows = super::lists::project_ids(
        pr.tenant(),
        "SELECT next_attempt_at AS project_id FROM hook_deliveries WHERE org_id = ?1 AND project_id = ?2 \
         AND status = ?3 ORDER BY next_attempt_at LIMIT 1",
        vec![Arg::text(pr.as_str()), Arg::text("pending")],
    )
    .await?;
    Ok(rows.into_iter().next())
}

/// An endpoint's deliveries, newest first, before `before` (`created_at`, `id`) when given.
pub async fn deliveries(
    pr: &ProjectHandle,
    endpoint: &str,
    before: Option<(&str, &str)>,
    limit: u32,
) -> Fallible<Vec<DeliveryRow>> {
    let (at, id) = before.unwrap_or(("9999", ""));
    pr.tenant()
        .all(
            &format!(
                "SELECT {DELIVERY_COLS} FROM hook_deliveries WHERE org_id = ?1 AND project_id = ?2 \
                 AND endpoint_id = ?3 AND (created_at < ?4 OR (created_at = ?4 AND id < ?5)) \
                 ORDER BY created_at DESC, id DESC LIMIT ?6"
            ),
            vec![
                Arg::text(pr.as_str()),
                Arg::text(endpoint),
                Arg::text(at),
                Arg::text(id),
                Arg::Int(i64::from(limit)),
            ],
        )
        .await
}

pub async fn delivery(pr: &ProjectHandle, id: &str) -> Fallible<Option<DeliveryRow>> {
    pr.tenant()
        .first(
            &format!(
                "SELECT {DELIVERY_COLS} FROM hook_deliveries WHERE org_id = ?1 AND project_id = ?2 AND id = ?3"
            ),
            vec![Arg::text(pr.as_str()), Arg::text(id)],
        )
        .await
}

/// The attempts of the deliveries `ids` (in order of each delivery's sends), 90 deliveries a
/// query (D1 binds at most 100 parameters).
pub async fn attempts(pr: &ProjectHandle, ids: &[&str]) -> Fallible<Vec<AttemptRow>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(90) {
        let marks: Vec<String> = (0..chunk.len()).map(|i| format!("?{}", i + 3)).collect();
        let mut args = vec![Arg::text(pr.as_str())];
        args.extend(chunk.iter().map(|id| Arg::text(*id)));
        let rows: Vec<AttemptRow> = pr
            .tenant()
            .all(
                &format!(
                    "SELECT delivery_id, n, at, status, error, duration_ms FROM hook_attempts WHERE org_id = ?1 \
                     AND project_id = ?2 AND delivery_id IN ({}) ORDER BY delivery_id, n",
                    marks.join(", ")
                ),
                args,
            )
            .await?;
        out.extend(rows);
    }
    Ok(out)
}

/// A send's record and the delivery's state after it, in one batch.
pub fn settle(
    pr: &ProjectHandle,
    d: &DeliveryRow,
    a: &AttemptRow,
    now: &str,
) -> Fallible<Vec<Scoped>> {
    let t = pr.tenant();
    Ok(vec![
        t.stmt(
            "INSERT INTO hook_attempts (org_id, project_id, delivery_id, n, at, status, error, duration_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            vec![
                Arg::text(pr.as_str()),
                Arg::text(&d.id),
                Arg::Int(a.n),
                Arg::text(&a.at),
                a.status.map_or(Arg::Null, Arg::Int),
                Arg::opt(a.error.clone()),
                Arg::Int(a.duration_ms),
            ],
        )?,
        t.stmt(
            "UPDATE hook_deliveries SET status = ?3, attempts = ?4, next_attempt_at = ?5, last_status = ?6, \
             last_error = ?7, updated_at = ?8 WHERE org_id = ?1 AND project_id = ?2 AND id = ?9 \
             AND status = ?10 AND attempts = ?11",
            vec![
                Arg::text(pr.as_str()),
                Arg::text(&d.status),
                Arg::Int(d.attempts),
                Arg::text(&d.next_attempt_at),
                d.last_status.map_or(Arg::Null, Arg::Int),
                Arg::opt(d.last_error.clone()),
                Arg::text(now),
                Arg::text(&d.id),
                Arg::text("pending"),
                Arg::Int(a.n - 1),
            ],
        )?,
    ])
}

/// The projects of the org with webhook work (the cron wakes their drains): a delivery due by
/// `now`, or an enabled endpoint and entries recorded past the walk's cursor.
pub async fn projects_with_work(t: &Tenant, now: Timestamp) -> Fallible<Vec<String>> {
    let mut ids = super::lists::project_ids(
        t,
        "SELECT DISTINCT project_id FROM hook_deliveries WHERE org_id = ?1 AND status = ?2 \
         AND next_attempt_at <= ?3 ORDER BY project_id LIMIT 100",
        vec![Arg::text("pending"), Arg::text(now.to_rfc3339())],
    )
    .await?;
    ids.extend(
        super::lists::project_ids(
            t,
            "SELECT project_id FROM hook_cursors WHERE org_id = ?1 AND seq < (SELECT seq FROM chain_heads \
             WHERE org_id = ?1 AND chain = ?2 || hook_cursors.project_id) AND project_id IN \
             (SELECT project_id FROM hook_endpoints WHERE org_id = ?1 AND status = ?3) \
             ORDER BY project_id LIMIT 100",
            vec![Arg::text("project:"), Arg::text("enabled")],
        )
        .await?,
    );
    Ok(ids)
}
