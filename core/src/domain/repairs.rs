//! Repairs (SPEC §8, §15) as pure rules: which one-row change fixes an incident (`suggest`),
//! whether it only grants (`Effect`), how a repair follows its incident as checks change it
//! (`follow`), the status machine (`RepairStatus::may_become`, mirrored by a D1 trigger), and the
//! validated statement a repair runs (`ExecPlan`): identifiers from the mapping only, columns
//! from its allowlist only, values only as parameters. Nothing here does I/O.

use super::audit::Action;
use super::incidents::{Change, Incident, IncidentStatus};
use super::mapping::Mapping;
use super::reconcile::{Access, AppValues, IncidentKind};
use super::sqlident::SqlIdent;
use super::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepairStatus {
    Pending,
    Executing,
    Executed,
    Verified,
    Unverified,
    Rejected,
    Stale,
    Failed,
}

impl RepairStatus {
    pub const ALL: [RepairStatus; 8] = [
        RepairStatus::Pending,
        RepairStatus::Executing,
        RepairStatus::Executed,
        RepairStatus::Verified,
        RepairStatus::Unverified,
        RepairStatus::Rejected,
        RepairStatus::Stale,
        RepairStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RepairStatus::Pending => "pending",
            RepairStatus::Executing => "executing",
            RepairStatus::Executed => "executed",
            RepairStatus::Verified => "verified",
            RepairStatus::Unverified => "unverified",
            RepairStatus::Rejected => "rejected",
            RepairStatus::Stale => "stale",
            RepairStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        RepairStatus::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// SPEC §8: `pending → executing → executed → verified | unverified`, `pending → rejected`,
    /// `executing → stale | failed`. Nothing else, and nothing leaves a final status.
    pub fn may_become(self, next: RepairStatus) -> bool {
        use RepairStatus::*;
        matches!(
            (self, next),
            (Pending, Executing | Rejected)
                | (Executing, Executed | Stale | Failed)
                | (Executed, Verified | Unverified)
        )
    }
}

/// One column a repair writes: the value it must still hold, and the value it gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnChange {
    pub column: String,
    pub before: Value,
    pub after: Value,
}

/// What a repair does to the customer's access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Only gives: flags to true, the plan to a higher-ranked one.
    Grant,
    /// Only takes away: flags to false, the plan to a lower-ranked (or unranked) one.
    Revocation,
    /// Some of both.
    Change,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Grant => "grant",
            Effect::Revocation => "revocation",
            Effect::Change => "change",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Effect::Grant, Effect::Revocation, Effect::Change]
            .into_iter()
            .find(|e| e.as_str() == s)
    }
}

/// A repair (SPEC §15 field names, plus what a reviewer needs: the table, the key column, the
/// effect and the reason a repair was rejected or withdrawn).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repair {
    pub id: String,
    pub incident_id: String,
    pub customer: String,
    pub status: RepairStatus,
    pub effect: Effect,
    pub table: String,
    pub key_column: String,
    pub changes: Vec<ColumnChange>,
    pub row_before: Option<AppValues>,
    pub row_after: Option<AppValues>,
    pub approved_by: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub executed_at: Option<Timestamp>,
    pub verified_at: Option<Timestamp>,
    pub error: Option<String>,
    pub reason: Option<String>,
}

impl Repair {
    /// This repair moved to `next` at `now` (the caller checked `may_become`).
    pub fn moved(&self, next: RepairStatus, now: Timestamp) -> Repair {
        let mut r = self.clone();
        r.status = next;
        r.updated_at = now;
        r
    }
}

/// Why a pending repair was withdrawn, in words (its `reason`).
pub const WITHDRAWN_RESOLVED: &str = "withdrawn: the incident resolved on its own";
pub const WITHDRAWN_CHANGED: &str = "withdrawn: the drift changed; a new repair replaces this one";
pub const WITHDRAWN_IGNORED: &str = "withdrawn: the incident was ignored";

/// How a flag column reads as access: NULL (or absent, or not a bool) is false.
fn flag(row: &AppValues, col: &str) -> bool {
    row.get(col).and_then(Value::as_bool).unwrap_or(false)
}

/// The plan name a row grants, as `reconcile::actual` reads it.
fn plan_of(m: &Mapping, row: &AppValues) -> String {
    match row.get(m.plan_column.as_str()) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => m.free_plan.clone(),
        Some(other) => other.to_string(),
    }
}

/// The one-row change that makes `row` grant `target` for an incident of `kind`, with each
/// column's value as read (`before`) and as it must become (`after`). Only the columns that
/// incident is about, and only those that differ. `None` when no column of the row can fix it
/// (`unknown_customer`, or nothing differs).
pub fn changes_for(
    m: &Mapping,
    kind: IncidentKind,
    target: &Access,
    row: &AppValues,
) -> Vec<ColumnChange> {
    let mut out = Vec::new();
    let mut set = |col: &SqlIdent, after: Value| {
        out.push(ColumnChange {
            column: col.as_str().to_owned(),
            before: row.get(col.as_str()).cloned().unwrap_or(Value::Null),
            after,
        });
    };
    match kind {
        IncidentKind::MissingAccess | IncidentKind::UnpaidAccess | IncidentKind::PlanMismatch => {
            if plan_of(m, row) != target.plan {
                set(&m.plan_column, Value::String(target.plan.clone()));
            }
            if let Some(c) = &m.premium_column {
                if flag(row, c.as_str()) != target.premium {
                    set(c, Value::Bool(target.premium));
                }
            }
        }
        IncidentKind::TrialMismatch => {
            if let Some(c) = &m.trial_column {
                if flag(row, c.as_str()) != target.trial {
                    set(c, Value::Bool(target.trial));
                }
            }
        }
        IncidentKind::EntitlementMismatch => {
            for (key, c) in &m.entitlements {
                let want = target.entitlements.contains(key);
                if flag(row, c.as_str()) != want {
                    set(c, Value::Bool(want));
                }
            }
        }
        IncidentKind::UnknownCustomer => {}
    }
    out
}

/// Whether two incident kinds are about the same columns of the row (plan and premium; trial;
/// entitlements; none).
pub fn same_columns(a: IncidentKind, b: IncidentKind) -> bool {
    let group = |k: IncidentKind| match k {
        IncidentKind::MissingAccess | IncidentKind::UnpaidAccess | IncidentKind::PlanMismatch => 0,
        IncidentKind::TrialMismatch => 1,
        IncidentKind::EntitlementMismatch => 2,
        IncidentKind::UnknownCustomer => 3,
    };
    group(a) == group(b)
}

/// Whether a set of changes only gives, only takes, or both. A flag going to true gives; to
/// false takes. A plan change gives only when both plans are ranked and the new rank is higher.
pub fn effect(m: &Mapping, changes: &[ColumnChange]) -> Effect {
    let (mut gives, mut takes) = (false, false);
    for c in changes {
        let up = match &c.after {
            Value::Bool(b) => *b,
            Value::String(new) if c.column == m.plan_column.as_str() => {
                let old = match &c.before {
                    Value::String(s) => Some(s.as_str()),
                    Value::Null => Some(m.free_plan.as_str()),
                    _ => None,
                };
                let old_rank = old.and_then(|o| m.rank_of(o));
                matches!((old_rank, m.rank_of(new)), (Some(o), Some(n)) if n > o)
            }
            _ => false,
        };
        gives |= up;
        takes |= !up;
    }
    match (gives, takes) {
        (true, false) => Effect::Grant,
        (false, true) => Effect::Revocation,
        _ => Effect::Change,
    }
}

/// Whether Stripe, as read now (`expected`, from `reconcile::expected`), still asks for every
/// value a repair writes. Checked right before a repair that takes anything away runs: a
/// customer who paid (or entered a `keep` state) since the suggestion keeps their access.
pub fn still_wanted(
    m: &Mapping,
    changes: &[ColumnChange],
    expected: &super::reconcile::Expected,
) -> bool {
    if expected.hold && effect(m, changes) != Effect::Grant {
        return false;
    }
    let e = &expected.access;
    changes.iter().all(|c| {
        let col = c.column.as_str();
        let want = if col == m.plan_column.as_str() {
            Value::String(e.plan.clone())
        } else if m.premium_column.as_ref().is_some_and(|p| p.as_str() == col) {
            Value::Bool(e.premium)
        } else if m.trial_column.as_ref().is_some_and(|t| t.as_str() == col) {
            Value::Bool(e.trial)
        } else if let Some((key, _)) = m.entitlements.iter().find(|(_, c)| c.as_str() == col) {
            Value::Bool(e.entitlements.contains(key))
        } else {
            return false;
        };
        c.after == want
    })
}

/// What a check knows of the customer when it suggests repairs.
pub struct Context<'a> {
    pub mapping: &'a Mapping,
    /// The customer's app row as read (`None`: no row, so nothing to repair).
    pub row: Option<&'a AppValues>,
    /// A subscription of the customer is in a `keep` grace state: nothing may be taken away.
    pub in_keep: bool,
    pub now: Timestamp,
}

/// The repair for an open incident, if a one-row change can fix it. Never one that takes
/// anything away while the customer is in a `keep` grace state.
pub fn suggest(ctx: &Context<'_>, i: &Incident, id: String) -> Option<Repair> {
    let (row, target) = (ctx.row?, i.expected.as_ref()?);
    if i.status != IncidentStatus::Open || i.actual.is_none() {
        return None;
    }
    let changes = changes_for(ctx.mapping, i.kind, target, row);
    if changes.is_empty() {
        return None;
    }
    let effect = effect(ctx.mapping, &changes);
    if ctx.in_keep && effect != Effect::Grant {
        return None;
    }
    Some(Repair {
        id,
        incident_id: i.id.clone(),
        customer: i.customer.clone(),
        status: RepairStatus::Pending,
        effect,
        table: ctx.mapping.table.to_string().replace('"', ""),
        key_column: ctx.mapping.customer_column.as_str().to_owned(),
        changes,
        row_before: None,
        row_after: None,
        approved_by: None,
        created_at: ctx.now,
        updated_at: ctx.now,
        executed_at: None,
        verified_at: None,
        error: None,
        reason: None,
    })
}

/// What a check does to repairs.
#[derive(Debug, Clone, PartialEq)]
pub enum RepairChange {
    Created(Box<Repair>),
    /// A pending repair withdrawn (`rejected`, with the reason) because its incident resolved,
    /// changed or was ignored.
    Withdrawn {
        before: Box<Repair>,
        after: Box<Repair>,
    },
}

impl RepairChange {
    pub fn action(&self) -> Action {
        match self {
            RepairChange::Created(_) => Action::RepairCreated,
            RepairChange::Withdrawn { .. } => Action::RepairRejected,
        }
    }

    pub fn after(&self) -> &Repair {
        match self {
            RepairChange::Created(r) => r,
            RepairChange::Withdrawn { after, .. } => after,
        }
    }
}

/// A pending repair withdrawn with `reason`.
pub fn withdrawn(r: &Repair, reason: &str, now: Timestamp) -> RepairChange {
    let mut after = r.moved(RepairStatus::Rejected, now);
    after.reason = Some(reason.to_owned());
    RepairChange::Withdrawn {
        before: Box::new(r.clone()),
        after: Box::new(after),
    }
}

/// How repairs follow one customer's incident plan. `live` are the customer's open and ignored
/// incidents before the plan, `changes` the plan (each opened or changed incident's `repair_id`
/// is set here), `latest` the repairs the live incidents name, by id.
///
/// - an incident that resolves withdraws its pending repair;
/// - an incident whose drift changed withdraws its pending repair and gets a new one, unless
///   the new one would make exactly the same changes (then the pending one stays);
/// - an opened incident gets one;
/// - an unchanged open incident gets one when it has none yet, or when its latest ended
///   `stale` or `failed` (the row moved on, or the database failed: suggest again from the
///   row as read now). One whose latest was rejected by a person, or ran and did not verify,
///   gets none: suggesting it again would repeat what a person or the app already refused.
///
/// Returns the repair changes and, for unchanged incidents that got a repair, the incident as
/// it was and with its new `repair_id` (a link, not an incident change: it is not audited as
/// one, the `repair.created` entry names the incident).
pub fn follow(
    ctx: &Context<'_>,
    live: &[Incident],
    changes: &mut [Change],
    latest: &BTreeMap<String, Repair>,
    mut new_id: impl FnMut() -> String,
) -> (Vec<RepairChange>, Vec<(Incident, Incident)>) {
    let pending_of = |i: &Incident| {
        i.repair_id
            .as_ref()
            .and_then(|id| latest.get(id))
            .filter(|r| r.status == RepairStatus::Pending)
    };
    let mut out = Vec::new();
    let mut links = Vec::new();
    for c in changes.iter_mut() {
        match c {
            Change::Opened(i) => {
                if let Some(r) = suggest(ctx, i, new_id()) {
                    i.repair_id = Some(r.id.clone());
                    out.push(RepairChange::Created(Box::new(r)));
                }
            }
            Change::Updated { before, after } => {
                // Its repair is running: the run's verification re-checks the customer and a
                // later check suggests again if need be; a second live repair is never made.
                let running = before
                    .repair_id
                    .as_ref()
                    .and_then(|id| latest.get(id))
                    .is_some_and(|r| r.status == RepairStatus::Executing);
                if running {
                    continue;
                }
                let fresh = suggest(ctx, after, new_id());
                let pending = pending_of(before);
                // The drift changed in a way the repair does not touch (another column of the
                // row moved): the pending repair still says exactly what to do, and stays.
                let same = |p: &Repair, r: &Repair| p.changes == r.changes && p.effect == r.effect;
                if let (Some(p), Some(r)) = (pending, fresh.as_ref()) {
                    if same(p, r) {
                        after.repair_id = Some(p.id.clone());
                        continue;
                    }
                }
                if let Some(p) = pending {
                    out.push(withdrawn(p, WITHDRAWN_CHANGED, ctx.now));
                }
                if let Some(r) = fresh {
                    after.repair_id = Some(r.id.clone());
                    out.push(RepairChange::Created(Box::new(r)));
                }
            }
            Change::Resolved { before, .. } => {
                if let Some(p) = pending_of(before) {
                    out.push(withdrawn(p, WITHDRAWN_RESOLVED, ctx.now));
                }
            }
        }
    }
    let changed: Vec<&str> = changes.iter().map(|c| c.after().id.as_str()).collect();
    for i in live {
        if i.status != IncidentStatus::Open || changed.contains(&i.id.as_str()) {
            continue;
        }
        let again = match i.repair_id.as_ref() {
            None => true,
            Some(id) => latest
                .get(id)
                .is_some_and(|r| matches!(r.status, RepairStatus::Stale | RepairStatus::Failed)),
        };
        if !again {
            continue;
        }
        if let Some(r) = suggest(ctx, i, new_id()) {
            let mut after = i.clone();
            after.repair_id = Some(r.id.clone());
            links.push((i.clone(), after));
            out.push(RepairChange::Created(Box::new(r)));
        }
    }
    (out, links)
}

#[cfg(test)]
mod tests;
