//! Reconcile runs (migration 0011). Rows parse into `domain::records::Run` and the run's
//! `Position` as they are read (`parityrail_core::rows::runs`). Every step ends with `advance`, guarded by the step number, so a
//! step repeated after a crash changes nothing the first one already recorded.

use super::Arg;
use crate::auth::scope::{ProjectHandle, Scoped};
use parityrail_core::domain::records::{Counts, Position, Run, RunStatus};
use parityrail_core::domain::runs::{At, Phase};
use parityrail_core::domain::time::Timestamp;
use parityrail_core::fault::{Fallible, Fault};
pub use parityrail_core::rows::runs::trigger_str;
use parityrail_core::rows::runs::RunRow;

const COLS: &str = "id, status, trigger_kind, customers_checked, incidents_opened, \
                    incidents_resolved, stripe_requests, db_round_trips, errors, step, phase, \
                    cursor, started_at, updated_at, finished_at";

/// Starts a run (status `running`, first phase). Fails with a unique violation on
/// `runs.project_id` while another run of the project is running.
pub fn insert(pr: &ProjectHandle, run: &Run) -> Fallible<Scoped> {
    let at = run.started_at.to_rfc3339();
    pr.tenant().stmt(
        "INSERT INTO runs (org_id, id, project_id, status, trigger_kind, phase, started_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        vec![
            Arg::text(&run.id),
            Arg::text(pr.as_str()),
            Arg::text("running"),
            Arg::text(trigger_str(run.trigger)),
            Arg::text(Phase::Subscriptions.as_str()),
            Arg::text(&at),
            Arg::text(&at),
        ],
    )
}

pub async fn get(pr: &ProjectHandle, id: &str) -> Fallible<Option<(Run, Position)>> {
    let row: Option<RunRow> = pr
        .tenant()
        .first(
            &format!("SELECT {COLS} FROM runs WHERE org_id = ?1 AND project_id = ?2 AND id = ?3"),
            vec![Arg::text(pr.as_str()), Arg::text(id)],
        )
        .await?;
    row.map(RunRow::parse).transpose()
}

/// The project's running run and where it stands, if any.
pub async fn running(pr: &ProjectHandle) -> Fallible<Option<(Run, Position)>> {
    let row: Option<RunRow> = pr
        .tenant()
        .first(
            &format!(
                "SELECT {COLS} FROM runs WHERE org_id = ?1 AND project_id = ?2 AND status = ?3"
            ),
            vec![Arg::text(pr.as_str()), Arg::text("running")],
        )
        .await?;
    row.map(RunRow::parse).transpose()
}

/// A page of the project's runs, newest first (ids are random: by start, then id).
pub async fn list(
    pr: &ProjectHandle,
    before: Option<(&str, &str)>,
    limit: u32,
) -> Fallible<Vec<Run>> {
    let (at, id) = before.unwrap_or(("9999", ""));
    let rows: Vec<RunRow> = pr
        .tenant()
        .all(
            &format!(
                "SELECT {COLS} FROM runs WHERE org_id = ?1 AND project_id = ?2 \
                 AND (started_at < ?3 OR (started_at = ?3 AND id < ?4)) \
                 ORDER BY started_at DESC, id DESC LIMIT ?5"
            ),
            vec![
                Arg::text(pr.as_str()),
                Arg::text(at),
                Arg::text(if before.is_some() { id } else { "~" }),
                Arg::Int(i64::from(limit)),
            ],
        )
        .await?;
    rows.into_iter()
        .map(|r| r.parse().map(|(run, _)| run))
        .collect()
}

/// Records step `step` as done: the next phase and cursor, and its counts. Changes nothing when
/// the step was already recorded (or the run is no longer running).
pub fn advance(
    pr: &ProjectHandle,
    id: &str,
    step: i64,
    next: &At,
    errors: &[String],
    c: Counts,
    now: Timestamp,
) -> Fallible<Scoped> {
    let errors = serde_json::to_string(errors).map_err(|e| Fault::internal(e.to_string()))?;
    pr.tenant().stmt(
        "UPDATE runs SET step = ?4 + 1, phase = ?5, cursor = ?6, errors = ?14, \
         customers_checked = customers_checked + ?7, incidents_opened = incidents_opened + ?8, \
         incidents_resolved = incidents_resolved + ?9, stripe_requests = stripe_requests + ?10, \
         db_round_trips = db_round_trips + ?11, updated_at = ?12 \
         WHERE org_id = ?1 AND project_id = ?2 AND id = ?3 AND step = ?4 AND status = ?13",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(id),
            Arg::Int(step),
            Arg::text(next.phase.as_str()),
            Arg::opt(next.cursor.as_deref()),
            int(c.customers_checked),
            int(c.incidents_opened),
            int(c.incidents_resolved),
            int(c.stripe_requests),
            int(c.db_round_trips),
            Arg::text(now.to_rfc3339()),
            Arg::text("running"),
            Arg::text(errors),
        ],
    )
}

/// Adds incident counts to a running run whose step `step` has not been recorded yet: in the
/// batch of the incident changes they count, so a step repeated after a crash (whose committed
/// changes re-plan to nothing) counts each change exactly once.
pub fn add_incident_counts(
    pr: &ProjectHandle,
    id: &str,
    step: i64,
    opened: u64,
    resolved: u64,
) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "UPDATE runs SET incidents_opened = incidents_opened + ?5, \
         incidents_resolved = incidents_resolved + ?6 \
         WHERE org_id = ?1 AND project_id = ?2 AND id = ?3 AND step = ?4 AND status = ?7",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(id),
            Arg::Int(step),
            int(opened),
            int(resolved),
            Arg::text("running"),
        ],
    )
}

/// Ends a running run as `status` with `errors`, adding the last step's counts.
pub fn finish(
    pr: &ProjectHandle,
    id: &str,
    status: RunStatus,
    errors: &[String],
    c: Counts,
    now: Timestamp,
) -> Fallible<Scoped> {
    let status = match status {
        RunStatus::Running => return Err(Fault::internal("a run cannot finish as running")),
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
    };
    let errors = serde_json::to_string(errors).map_err(|e| Fault::internal(e.to_string()))?;
    pr.tenant().stmt(
        "UPDATE runs SET status = ?4, errors = ?5, finished_at = ?6, updated_at = ?6, \
         customers_checked = customers_checked + ?7, incidents_opened = incidents_opened + ?8, \
         incidents_resolved = incidents_resolved + ?9, stripe_requests = stripe_requests + ?10, \
         db_round_trips = db_round_trips + ?11, step = step + 1 \
         WHERE org_id = ?1 AND project_id = ?2 AND id = ?3 AND status = ?12",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(id),
            Arg::text(status),
            Arg::text(errors),
            Arg::text(now.to_rfc3339()),
            int(c.customers_checked),
            int(c.incidents_opened),
            int(c.incidents_resolved),
            int(c.stripe_requests),
            int(c.db_round_trips),
            Arg::text("running"),
        ],
    )
}

fn int(n: u64) -> Arg {
    Arg::Int(i64::try_from(n).unwrap_or(i64::MAX))
}
