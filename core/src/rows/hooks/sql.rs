//! The D1 statements of outbound webhooks (migration 0023), as data: each a `Query` whose
//! parameters start at `?2` with the project (the adapter's tenant binds the org as `?1` and
//! refuses any statement `domain::tenancy` does not find scoped; the tests hold every one here
//! to that check natively).

use super::{AttemptRow, DeliveryRow, EndpointRow, EventRow};
use crate::rows::{Arg, Query};

const ENDPOINT_COLS: &str =
    "id, url, description, events, status, disabled_reason, secret_sealed, \
     old_secret_sealed, old_secret_until, from_seq, failing_since, created_at, updated_at";

const DELIVERY_COLS: &str = "id, endpoint_id, event_id, event_type, status, attempts, \
     next_attempt_at, last_status, last_error, created_at, updated_at";

fn q(sql: impl Into<String>, args: Vec<Arg>) -> Query {
    (sql.into(), args)
}

fn t(s: &str) -> Arg {
    Arg::text(s)
}

/// Every endpoint of the project, oldest first.
pub fn endpoints(project: &str) -> Query {
    q(
        format!(
            "SELECT {ENDPOINT_COLS} FROM hook_endpoints WHERE org_id = ?1 AND project_id = ?2 \
             ORDER BY created_at, id"
        ),
        vec![t(project)],
    )
}

pub fn insert_endpoint(project: &str, e: &EndpointRow) -> Query {
    q(
        "INSERT INTO hook_endpoints (org_id, project_id, id, url, description, events, status, \
         secret_sealed, from_seq, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        vec![
            t(project),
            t(&e.id),
            t(&e.url),
            t(&e.description),
            t(&e.events),
            t(&e.status),
            t(&e.secret_sealed),
            Arg::Int(e.from_seq),
            t(&e.created_at),
        ],
    )
}

/// An endpoint as `after` has it (read in the same append-protocol try): its settings, status
/// and secrets.
pub fn update_endpoint(project: &str, after: &EndpointRow) -> Query {
    q(
        "UPDATE hook_endpoints SET url = ?3, description = ?4, events = ?5, status = ?6, disabled_reason = ?7, \
         failing_since = ?8, updated_at = ?9, from_seq = ?11, secret_sealed = ?12, old_secret_sealed = ?13, \
         old_secret_until = ?14 WHERE org_id = ?1 AND project_id = ?2 AND id = ?10",
        vec![
            t(project),
            t(&after.url),
            t(&after.description),
            t(&after.events),
            t(&after.status),
            Arg::opt(after.disabled_reason.clone()),
            Arg::opt(after.failing_since.clone()),
            t(&after.updated_at),
            t(&after.id),
            Arg::Int(after.from_seq),
            t(&after.secret_sealed),
            Arg::opt(after.old_secret_sealed.clone()),
            Arg::opt(after.old_secret_until.clone()),
        ],
    )
}

/// An endpoint's run of failures: begun at `since` (kept when one is going), or ended (`None`).
pub fn failing(project: &str, id: &str, since: Option<&str>) -> Query {
    let sql = match since {
        Some(_) => "UPDATE hook_endpoints SET failing_since = coalesce(failing_since, ?3) \
             WHERE org_id = ?1 AND project_id = ?2 AND id = ?4",
        None => "UPDATE hook_endpoints SET failing_since = ?3 WHERE org_id = ?1 AND project_id = ?2 AND id = ?4",
    };
    q(sql, vec![t(project), Arg::opt(since), t(id)])
}

/// Deletes an endpoint with its deliveries and their attempts.
pub fn delete_endpoint(project: &str, id: &str) -> Vec<Query> {
    let args = || vec![t(project), t(id)];
    vec![
        q(
            "DELETE FROM hook_attempts WHERE org_id = ?1 AND project_id = ?2 AND delivery_id IN \
             (SELECT id FROM hook_deliveries WHERE org_id = ?1 AND project_id = ?2 AND endpoint_id = ?3)",
            args(),
        ),
        q(
            "DELETE FROM hook_deliveries WHERE org_id = ?1 AND project_id = ?2 AND endpoint_id = ?3",
            args(),
        ),
        q(
            "DELETE FROM hook_endpoints WHERE org_id = ?1 AND project_id = ?2 AND id = ?3",
            args(),
        ),
    ]
}

/// Disables an enabled endpoint (the system's: nothing else of it changes).
pub fn disable(project: &str, id: &str, why: &str, now: &str) -> Query {
    let args = [project, "disabled", why, now, id, "enabled"];
    q(
        "UPDATE hook_endpoints SET status = ?3, disabled_reason = ?4, updated_at = ?5 WHERE org_id = ?1 \
         AND project_id = ?2 AND id = ?6 AND status = ?7",
        args.iter().map(|a| t(a)).collect(),
    )
}

/// What `fail` fails.
#[derive(Debug, Clone, Copy)]
pub enum Of {
    /// One delivery not to be sent.
    Delivery,
    /// Every pending delivery of an endpoint that was disabled.
    Endpoint,
}

/// Fails the pending deliveries `of` names.
pub fn fail(project: &str, of: Of, id: &str, why: &str, now: &str) -> Query {
    let column = match of {
        Of::Delivery => "id",
        Of::Endpoint => "endpoint_id",
    };
    let args = [project, "failed", why, now, id, "pending"];
    q(
        format!(
            "UPDATE hook_deliveries SET status = ?3, last_error = ?4, updated_at = ?5 WHERE org_id = ?1 \
             AND project_id = ?2 AND {column} = ?6 AND status = ?7"
        ),
        args.iter().map(|a| t(a)).collect(),
    )
}

/// Where the project's event walk stands (`seq AS n`: the shared count decoder).
pub fn cursor(project: &str) -> Query {
    q(
        "SELECT seq AS n FROM hook_cursors WHERE org_id = ?1 AND project_id = ?2",
        vec![t(project)],
    )
}

/// The walk's first position (kept when one exists).
pub fn start_cursor(project: &str, seq: i64) -> Query {
    q(
        "INSERT INTO hook_cursors (org_id, project_id, seq) VALUES (?1, ?2, ?3) \
         ON CONFLICT (org_id, project_id) DO NOTHING",
        vec![t(project), Arg::Int(seq)],
    )
}

/// Moves the walk to `seq` (never back: a late batch of an older drain cannot undo a newer).
pub fn move_cursor(project: &str, seq: i64) -> Query {
    q(
        "INSERT INTO hook_cursors (org_id, project_id, seq) VALUES (?1, ?2, ?3) \
         ON CONFLICT (org_id, project_id) DO UPDATE SET seq = max(seq, excluded.seq) WHERE org_id = ?1",
        vec![t(project), Arg::Int(seq)],
    )
}

/// An event, once per audit entry (a second store of the same entry fails the batch).
pub fn insert_event(project: &str, e: &EventRow, now: &str) -> Query {
    q(
        "INSERT INTO hook_events (org_id, project_id, id, seq, type, payload, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        vec![
            t(project),
            t(&e.id),
            Arg::Int(e.seq),
            t(&e.ty),
            t(&e.payload),
            t(now),
        ],
    )
}

pub fn event(project: &str, id: &str) -> Query {
    q(
        "SELECT id, seq, type, payload FROM hook_events WHERE org_id = ?1 AND project_id = ?2 AND id = ?3",
        vec![t(project), t(id)],
    )
}

/// A new delivery.
pub fn insert_delivery(project: &str, d: &DeliveryRow) -> Query {
    q(
        "INSERT INTO hook_deliveries (org_id, project_id, id, endpoint_id, event_id, event_type, status, \
         attempts, next_attempt_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?8, ?8)",
        vec![
            t(project),
            t(&d.id),
            t(&d.endpoint_id),
            t(&d.event_id),
            t(&d.event_type),
            t(&d.status),
            t(&d.created_at),
        ],
    )
}

/// Up to `limit` pending deliveries due by `now`, the longest due first.
pub fn due(project: &str, now: &str, limit: u32) -> Query {
    q(
        format!(
            "SELECT {DELIVERY_COLS} FROM hook_deliveries WHERE org_id = ?1 AND project_id = ?2 \
             AND status = ?3 AND next_attempt_at <= ?4 ORDER BY next_attempt_at, id LIMIT ?5"
        ),
        vec![t(project), t("pending"), t(now), Arg::Int(i64::from(limit))],
    )
}

/// When the first pending delivery is due (`AS project_id`: the shared one-column decoder).
pub fn next_due(project: &str) -> Query {
    q(
        "SELECT next_attempt_at AS project_id FROM hook_deliveries WHERE org_id = ?1 AND project_id = ?2 \
         AND status = ?3 ORDER BY next_attempt_at LIMIT 1",
        vec![t(project), t("pending")],
    )
}

/// An endpoint's deliveries, newest first, before `before` (`created_at`, `id`) when given.
pub fn deliveries(
    project: &str,
    endpoint: &str,
    before: Option<(&str, &str)>,
    limit: u32,
) -> Query {
    let (at, id) = before.unwrap_or(("9999", ""));
    q(
        format!(
            "SELECT {DELIVERY_COLS} FROM hook_deliveries WHERE org_id = ?1 AND project_id = ?2 \
             AND endpoint_id = ?3 AND (created_at < ?4 OR (created_at = ?4 AND id < ?5)) \
             ORDER BY created_at DESC, id DESC LIMIT ?6"
        ),
        vec![
            t(project),
            t(endpoint),
            t(at),
            t(id),
            Arg::Int(i64::from(limit)),
        ],
    )
}

pub fn delivery(project: &str, id: &str) -> Query {
    q(
        format!(
            "SELECT {DELIVERY_COLS} FROM hook_deliveries WHERE org_id = ?1 AND project_id = ?2 AND id = ?3"
        ),
        vec![t(project), t(id)],
    )
}

/// The attempts of the deliveries `ids` (in order of each delivery's sends), one query per 90
/// deliveries (D1 binds at most 100 parameters).
pub fn attempts(project: &str, ids: &[&str]) -> Vec<Query> {
    ids.chunks(90)
        .map(|chunk| {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("?{}", i + 3)).collect();
            let mut args = vec![t(project)];
            args.extend(chunk.iter().map(|id| t(id)));
            q(
                format!(
                    "SELECT delivery_id, n, at, status, error, duration_ms FROM hook_attempts WHERE org_id = ?1 \
                     AND project_id = ?2 AND delivery_id IN ({}) ORDER BY delivery_id, n",
                    marks.join(", ")
                ),
                args,
            )
        })
        .collect()
}

/// A send's record and the delivery's state after it (`d`), in one batch; the delivery changes
/// only if it is still pending after the sends before this one.
pub fn settle(project: &str, d: &DeliveryRow, a: &AttemptRow, now: &str) -> Vec<Query> {
    let int = |v: Option<i64>| v.map_or(Arg::Null, Arg::Int);
    vec![
        q(
            "INSERT INTO hook_attempts (org_id, project_id, delivery_id, n, at, status, error, duration_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            vec![
                t(project),
                t(&d.id),
                Arg::Int(a.n),
                t(&a.at),
                int(a.status),
                Arg::opt(a.error.clone()),
                Arg::Int(a.duration_ms),
            ],
        ),
        q(
            "UPDATE hook_deliveries SET status = ?3, attempts = ?4, next_attempt_at = ?5, last_status = ?6, \
             last_error = ?7, updated_at = ?8 WHERE org_id = ?1 AND project_id = ?2 AND id = ?9 \
             AND status = ?10 AND attempts = ?11",
            vec![
                t(project),
                t(&d.status),
                Arg::Int(d.attempts),
                t(&d.next_attempt_at),
                int(d.last_status),
                Arg::opt(d.last_error.clone()),
                t(now),
                t(&d.id),
                t("pending"),
                Arg::Int(a.n - 1),
            ],
        ),
    ]
}

/// The org's projects with webhook work (the cron wakes their drains): a delivery due by `now`,
/// or an enabled endpoint and entries recorded past the walk's cursor. No `{project}`: these
/// parameters start at `?2`.
pub fn projects_with_work(now: &str) -> [Query; 2] {
    [
        q(
            "SELECT DISTINCT project_id FROM hook_deliveries WHERE org_id = ?1 AND status = ?2 \
             AND next_attempt_at <= ?3 ORDER BY project_id LIMIT 100",
            vec![t("pending"), t(now)],
        ),
        q(
            "SELECT project_id FROM hook_cursors WHERE org_id = ?1 AND seq < (SELECT seq FROM chain_heads \
             WHERE org_id = ?1 AND chain = ?2 || hook_cursors.project_id) AND project_id IN \
             (SELECT project_id FROM hook_endpoints WHERE org_id = ?1 AND status = ?3) \
             ORDER BY project_id LIMIT 100",
            vec![t("project:"), t("enabled")],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tenancy::is_tenant_scoped;
    use crate::domain::time::Timestamp;

    #[test]
    fn every_statement_is_tenant_scoped_and_binds_what_it_names() {
        let now = Timestamp::from_millis(0);
        let ep = EndpointRow::new(
            "whe_1".into(),
            "https://x.example/".into(),
            String::new(),
            &["*".to_owned()],
            "s".into(),
            now,
        );
        let ev = EventRow {
            id: "evt_1".into(),
            seq: 1,
            ty: "incident.opened".into(),
            payload: "{}".into(),
        };
        let d = DeliveryRow::new("dlv_1".into(), "whe_1", &ev, now);
        let a = AttemptRow {
            delivery_id: "dlv_1".into(),
            n: 1,
            at: "t".into(),
            status: Some(200),
            error: None,
            duration_ms: 1,
        };
        let ids: Vec<String> = (0..200).map(|i| format!("dlv_{i}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut all = vec![
            endpoints("p"),
            insert_endpoint("p", &ep),
            update_endpoint("p", &ep),
            failing("p", "whe_1", Some("t")),
            failing("p", "whe_1", None),
            disable("p", "whe_1", "why", "t"),
            fail("p", Of::Delivery, "dlv_1", "why", "t"),
            fail("p", Of::Endpoint, "whe_1", "why", "t"),
            cursor("p"),
            start_cursor("p", 1),
            move_cursor("p", 2),
            insert_event("p", &ev, "t"),
            event("p", "evt_1"),
            insert_delivery("p", &d),
            due("p", "t", 10),
            next_due("p"),
            deliveries("p", "whe_1", Some(("t", "dlv_1")), 10),
            delivery("p", "dlv_1"),
        ];
        all.extend(delete_endpoint("p", "whe_1"));
        all.extend(settle("p", &d, &a, "t"));
        all.extend(projects_with_work("t"));
        let chunks = attempts("p", &ids);
        assert_eq!(chunks.len(), 3);
        all.extend(chunks);
        for (sql, args) in &all {
            assert!(is_tenant_scoped(sql), "{sql}");
            // ?1 is the org's; every other placeholder has its parameter, and D1's limit holds.
            // ?k stands alone (not the start of ?1k).
            let has = |k: usize| {
                let mark = format!("?{k}");
                sql.match_indices(&mark)
                    .any(|(i, m)| !sql[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
            };
            let highest = (2..=100).rev().find(|&n| has(n)).unwrap_or(1);
            assert_eq!(args.len() + 1, highest, "{sql}");
            // No gap: parameters cannot shift against their places.
            assert!((1..=highest).all(has), "a placeholder missing in {sql}");
            assert!(args.len() < 100, "{sql}");
        }
    }
}
