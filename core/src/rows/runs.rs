//! Reconcile run rows (migration 0011). A row parses into `domain::records::Run` and the run's
//! `Position` here; `trigger_str` is the stored name of a trigger and `view` what the API and
//! the audit chain show of a run (SPEC §15 fields).

use crate::domain::records::{Position, Run, RunStatus, RunTrigger};
use crate::domain::runs::Phase;
use crate::domain::time::Timestamp;
use crate::fault::{Fallible, Fault};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, Deserialize)]
pub struct RunRow {
    pub id: String,
    pub status: String,
    pub trigger_kind: String,
    pub customers_checked: i64,
    pub incidents_opened: i64,
    pub incidents_resolved: i64,
    pub stripe_requests: i64,
    pub db_round_trips: i64,
    pub errors: String,
    pub step: i64,
    pub phase: String,
    pub cursor: Option<String>,
    pub started_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

impl RunRow {
    /// The run and its position; a status, trigger, count, phase, JSON value or time that does
    /// not parse is a corrupt row (an internal fault naming the run and the column).
    pub fn parse(self) -> Fallible<(Run, Position)> {
        let r = self;
        let bad = |what: &str| Fault::internal(format!("run {}: bad {what}", r.id));
        let time = |s: &str| Timestamp::parse(s).map_err(|_| bad("timestamp"));
        let status = match r.status.as_str() {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            _ => return Err(bad("status")),
        };
        let trigger = match r.trigger_kind.as_str() {
            "api" => RunTrigger::Api,
            "cron" => RunTrigger::Cron,
            "webhook" => RunTrigger::Webhook,
            _ => return Err(bad("trigger")),
        };
        let count = |n: i64| u64::try_from(n).map_err(|_| bad("count"));
        let run = Run {
            status,
            trigger,
            customers_checked: count(r.customers_checked)?,
            incidents_opened: count(r.incidents_opened)?,
            incidents_resolved: count(r.incidents_resolved)?,
            stripe_requests: count(r.stripe_requests)?,
            db_round_trips: count(r.db_round_trips)?,
            errors: serde_json::from_str(&r.errors).map_err(|_| bad("errors"))?,
            started_at: time(&r.started_at)?,
            finished_at: r.finished_at.as_deref().map(time).transpose()?,
            id: r.id.clone(),
        };
        let pos = Position {
            step: r.step,
            phase: Phase::parse(&r.phase).ok_or_else(|| bad("phase"))?,
            cursor: r.cursor,
            updated_at: time(&r.updated_at)?,
        };
        Ok((run, pos))
    }
}

/// The stored name of a run's trigger.
pub fn trigger_str(t: RunTrigger) -> &'static str {
    match t {
        RunTrigger::Api => "api",
        RunTrigger::Cron => "cron",
        RunTrigger::Webhook => "webhook",
    }
}

/// The API and audit view of a run (SPEC §15 fields).
pub fn view(r: &Run) -> Value {
    json!(r)
}
