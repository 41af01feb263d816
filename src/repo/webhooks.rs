//! Webhook events and the outbox (migration 0012).

use super::Arg;
use crate::auth::scope::{ProjectHandle, Scoped, Tenant};
use parityrail_core::domain::outbox::PendingRow;
use parityrail_core::domain::time::Timestamp;
use parityrail_core::domain::webhook::EventFacts;
use parityrail_core::fault::{Fallible, Fault};
pub use parityrail_core::rows::webhooks::{Gap, Health, Source};
use serde::Deserialize;

/// The statements recording `e` (a unique violation on `webhook_events.project_id,
/// webhook_events.event_id` when it was recorded before) and, with `outbox_id`, the outbox row
/// asking for a check of its customer.
pub fn record(
    pr: &ProjectHandle,
    e: &EventFacts,
    source: Source,
    outbox_id: Option<&str>,
    now: Timestamp,
) -> Fallible<Vec<Scoped>> {
    let t = pr.tenant();
    let at = now.to_rfc3339();
    let mut out = vec![t.stmt(
        "INSERT INTO webhook_events (org_id, project_id, event_id, kind, customer, created, source, received_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(&e.id),
            Arg::text(&e.kind),
            Arg::opt(e.customer.as_deref()),
            Arg::Int(e.created),
            Arg::text(source.as_str()),
            Arg::text(&at),
        ],
    )?];
    if let (Some(id), Some(customer)) = (outbox_id, e.customer.as_deref()) {
        out.push(t.stmt(
            "INSERT INTO outbox (org_id, id, project_id, customer, event_id, status, created_at, next_attempt_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            vec![
                Arg::text(id),
                Arg::text(pr.as_str()),
                Arg::text(customer),
                Arg::text(&e.id),
                Arg::text("pending"),
                Arg::text(&at),
            ],
        )?);
    }
    Ok(out)
}

/// The project's pending rows due by `now`, oldest customers first, at most `limit`.
pub async fn due(pr: &ProjectHandle, now: Timestamp, limit: u32) -> Fallible<Vec<PendingRow>> {
    pr.tenant()
        .all(
            "SELECT id, customer, attempts FROM outbox WHERE org_id = ?1 AND project_id = ?2 \
             AND status = ?3 AND next_attempt_at <= ?4 ORDER BY next_attempt_at, id LIMIT ?5",
            vec![
                Arg::text(pr.as_str()),
                Arg::text("pending"),
                Arg::text(now.to_rfc3339()),
                Arg::Int(i64::from(limit)),
            ],
        )
        .await
}

/// The pending rows of one customer, oldest first, at most `PENDING_PER_CHECK` (the drain marks
/// them done once its check succeeded).
pub async fn pending_of(pr: &ProjectHandle, customer: &str) -> Fallible<Vec<PendingRow>> {
    pr.tenant()
        .all(
            "SELECT id, customer, attempts FROM outbox WHERE org_id = ?1 AND project_id = ?2 \
             AND status = ?3 AND customer = ?4 ORDER BY id LIMIT ?5",
            vec![
                Arg::text(pr.as_str()),
                Arg::text("pending"),
                Arg::text(customer),
                Arg::Int(PENDING_PER_CHECK),
            ],
        )
        .await
}

/// Pending rows one check answers at most (a customer with more is checked again at the next
/// drain for the rest): the batch that marks them done stays small.
const PENDING_PER_CHECK: i64 = 100;

/// When the project's next pending row is due, if any.
pub async fn next_due(pr: &ProjectHandle) -> Fallible<Option<Timestamp>> {
    #[derive(Deserialize)]
    struct At {
        next_attempt_at: String,
    }
    let row: Option<At> = pr
        .tenant()
        .first(
            "SELECT next_attempt_at FROM outbox WHERE org_id = ?1 AND project_id = ?2 AND status = ?3 \
             ORDER BY next_attempt_at LIMIT 1",
            vec![Arg::text(pr.as_str()), Arg::text("pending")],
        )
        .await?;
    row.map(|r| {
        Timestamp::parse(&r.next_attempt_at).map_err(|_| Fault::internal("outbox: bad time"))
    })
    .transpose()
}

/// Marks `id` done (its customer's check succeeded).
pub fn done(pr: &ProjectHandle, id: &str, now: Timestamp) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "UPDATE outbox SET status = ?4, done_at = ?5 WHERE org_id = ?1 AND project_id = ?2 AND id = ?3",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(id),
            Arg::text("done"),
            Arg::text(now.to_rfc3339()),
        ],
    )
}

/// Makes every pending row of the project due now (its configuration changed: checks that
/// waited for a person may succeed).
pub async fn due_now(pr: &ProjectHandle, now: Timestamp) -> Fallible<()> {
    pr.tenant()
        .batch(vec![pr.tenant().stmt(
            "UPDATE outbox SET next_attempt_at = ?3 WHERE org_id = ?1 AND project_id = ?2 AND status = ?4",
            vec![
                Arg::text(pr.as_str()),
                Arg::text(now.to_rfc3339()),
                Arg::text("pending"),
            ],
        )?])
        .await?;
    Ok(())
}

/// Every pending row of `customer` retried at `next` after a failed check (`error` its code).
pub fn retry_customer_later(
    pr: &ProjectHandle,
    customer: &str,
    error: &str,
    next: Timestamp,
) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?4, next_attempt_at = ?5 \
         WHERE org_id = ?1 AND project_id = ?2 AND customer = ?3 AND status = ?6",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(customer),
            Arg::text(error),
            Arg::text(next.to_rfc3339()),
            Arg::text("pending"),
        ],
    )
}

/// Records a gap older than Stripe's event history, from `gap_from` (unix seconds).
pub fn record_gap(pr: &ProjectHandle, gap_from: i64, now: Timestamp) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "INSERT INTO webhook_gaps (org_id, project_id, detected_at, gap_from) VALUES (?1, ?2, ?3, ?4)",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(now.to_rfc3339()),
            Arg::Int(gap_from),
        ],
    )
}

/// Which of `ids` the project has recorded (a page of the Events API at a time: 90 ids a query,
/// within D1's bound parameters).
pub async fn known_among(
    pr: &ProjectHandle,
    ids: &[&str],
) -> Fallible<std::collections::BTreeSet<String>> {
    #[derive(Deserialize)]
    struct Id {
        event_id: String,
    }
    let mut known = std::collections::BTreeSet::new();
    for chunk in ids.chunks(90) {
        let marks = (0..chunk.len())
            .map(|i| format!("?{}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let mut args = vec![Arg::text(pr.as_str())];
        args.extend(chunk.iter().map(|id| Arg::text(*id)));
        let rows: Vec<Id> = pr
            .tenant()
            .all(
                &format!(
                    "SELECT event_id FROM webhook_events WHERE org_id = ?1 AND project_id = ?2 \
                     AND event_id IN ({marks})"
                ),
                args,
            )
            .await?;
        known.extend(rows.into_iter().map(|r| r.event_id));
    }
    Ok(known)
}

pub async fn health(pr: &ProjectHandle) -> Fallible<Health> {
    #[derive(Deserialize)]
    struct N {
        n: i64,
        newest: Option<i64>,
    }
    let count = |source: &'static str| async move {
        let r: Option<N> = pr
            .tenant()
            .first(
                "SELECT count(*) AS n, max(created) AS newest FROM webhook_events \
                 WHERE org_id = ?1 AND project_id = ?2 AND source = ?3",
                vec![Arg::text(pr.as_str()), Arg::text(source)],
            )
            .await?;
        Ok::<_, Fault>(r.map_or((0, None), |r| (r.n, r.newest)))
    };
    let (received, newest_r) = count("webhook").await?;
    let (recovered, newest_a) = count("events_api").await?;
    let pending: Option<N> = pr
        .tenant()
        .first(
            "SELECT count(*) AS n, NULL AS newest FROM outbox WHERE org_id = ?1 AND project_id = ?2 AND status = ?3",
            vec![Arg::text(pr.as_str()), Arg::text("pending")],
        )
        .await?;
    let gap: Option<Gap> = pr
        .tenant()
        .first(
            "SELECT detected_at, gap_from FROM webhook_gaps WHERE org_id = ?1 AND project_id = ?2 \
             ORDER BY detected_at DESC LIMIT 1",
            vec![Arg::text(pr.as_str())],
        )
        .await?;
    Ok(Health {
        unrecoverable_gap: gap,
        events_received: received,
        events_recovered: recovered,
        newest_event_created: newest_r.max(newest_a),
        outbox_pending: pending.map_or(0, |p| p.n),
    })
}

/// The org's projects with pending outbox rows due by `now` (for the cron).
pub async fn projects_with_due(t: &Tenant, now: Timestamp) -> Fallible<Vec<String>> {
    super::lists::project_ids(
        t,
        "SELECT DISTINCT project_id FROM outbox WHERE org_id = ?1 AND status = ?2 \
         AND next_attempt_at <= ?3 LIMIT 100",
        vec![Arg::text("pending"), Arg::text(now.to_rfc3339())],
    )
    .await
}

/// Deletes the project's recorded events and outbox rows (its deletion: nothing is left to
/// check, and the cron must not wake a coordinator for it again).
pub fn delete_project(pr: &ProjectHandle) -> Fallible<Vec<Scoped>> {
    [
        "webhook_events",
        "outbox",
        "webhook_gaps",
        "alert_queue",
        "alert_digests",
        "hook_attempts",
        "hook_deliveries",
        "hook_events",
        "hook_cursors",
        "hook_endpoints",
    ]
    .iter()
    .map(|table| {
        pr.tenant().stmt(
            &format!("DELETE FROM {table} WHERE org_id = ?1 AND project_id = ?2"),
            vec![Arg::text(pr.as_str())],
        )
    })
    .collect()
}

/// Deletes up to `limit` recorded events of the org received before `before` (RFC 3339, our
/// own clock: an event's `created` is whatever its payload says) that no pending outbox row
/// still needs; returns how many went.
pub async fn prune_events(t: &Tenant, before: &str, limit: u32) -> Fallible<u64> {
    let done = t
        .batch(vec![t.stmt(
            "DELETE FROM webhook_events WHERE org_id = ?1 AND rowid IN \
             (SELECT e.rowid FROM webhook_events e WHERE e.org_id = ?1 AND e.received_at < ?2 \
              AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.org_id = ?1 AND o.project_id = e.project_id \
              AND o.status = ?3 AND o.event_id = e.event_id) LIMIT ?4)",
            vec![
                Arg::text(before),
                Arg::text("pending"),
                Arg::Int(i64::from(limit)),
            ],
        )?])
        .await?;
    Ok(changes(&done))
}

fn changes(results: &[worker::D1Result]) -> u64 {
    results
        .first()
        .and_then(|r| r.meta().ok().flatten())
        .and_then(|m| m.changes)
        .unwrap_or(0) as u64
}

/// Deletes up to `limit` outbox rows done before `before` (RFC 3339); returns how many.
pub async fn prune_done(t: &Tenant, before: &str, limit: u32) -> Fallible<u64> {
    let done = t
        .batch(vec![t.stmt(
            "DELETE FROM outbox WHERE org_id = ?1 AND id IN \
             (SELECT id FROM outbox WHERE org_id = ?1 AND status = ?2 AND done_at < ?3 LIMIT ?4)",
            vec![
                Arg::text("done"),
                Arg::text(before),
                Arg::Int(i64::from(limit)),
            ],
        )?])
        .await?;
    Ok(changes(&done))
}
