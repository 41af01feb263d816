//! Repairs (SPEC §8, §15) as pure rules: the one-row change that puts a customer's row in
//! parity (`suggest`: every drifted column at once, naming the incidents it resolves), whether
//! it only grants (`Effect`), how a customer's repair follows its incidents as checks change
//! them (`follow`: at most one live repair per customer row), and the status machine
//! (`RepairStatus::may_become`, mirrored by a D1 trigger). The validated statement a repair
//! runs is `repair_plan::ExecPlan`. Nothing here does I/O.

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
    /// The first of `incident_ids` in incident-kind order (the most severe), for readers of a
    /// repair as one incident's (SPEC §15).
    pub incident_id: String,
    /// Every incident this repair resolves, sorted; each names this repair (`repair_id`).
    /// Repairs stored before migration 0021 name their one incident.
    #[serde(default)]
    pub incident_ids: Vec<String>,
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

    /// Whether this repair is waiting or running (at most one per customer row: D1's
    /// `repairs_one_live_per_customer`, migration 0021).
    pub fn is_live(&self) -> bool {
        matches!(self.status, RepairStatus::Pending | RepairStatus::Executing)
    }

    /// Whether it resolves incident `id`.
    pub fn names(&self, id: &str) -> bool {
        self.incident_ids.iter().any(|i| i == id)
    }

    /// Rejected by ParityRail itself (withdrawn, with one of the `WITHDRAWN_*` reasons), not
    /// by a person: the incidents it named that are still open want a repair again (one of
    /// them ignored withdraws the customer's repair, and the others still want one).
    pub fn is_withdrawn(&self) -> bool {
        self.status == RepairStatus::Rejected
            && self.approved_by.is_none()
            && self
                .reason
                .as_deref()
                .is_some_and(|r| WITHDRAWN.contains(&r))
    }
}

/// A person's rejection reason: any reason but one that reads as ParityRail's own withdrawal
/// (`is_withdrawn` would take it for one, and suggest the repair again).
pub fn person_reason(reason: &str) -> Result<&str, crate::domain::input::InputError> {
    if reason
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("withdrawn:")
    {
        return Err(crate::domain::input::InputError::field(
            "reason",
            "\"withdrawn:\" is kept for ParityRail's own withdrawals",
        ));
    }
    Ok(reason)
}

/// Why a pending repair was withdrawn, in words (its `reason`).
pub const WITHDRAWN_RESOLVED: &str = "withdrawn: the incident resolved on its own";
pub const WITHDRAWN_CHANGED: &str = "withdrawn: the drift changed; a new repair replaces this one";
pub const WITHDRAWN_NO_FIX: &str =
    "withdrawn: the drift changed and no repair may fix it now (a grace state keeps access)";
pub const WITHDRAWN_IGNORED: &str = "withdrawn: the incident was ignored";
const WITHDRAWN: [&str; 4] = [
    WITHDRAWN_RESOLVED,
    WITHDRAWN_CHANGED,
    WITHDRAWN_NO_FIX,
    WITHDRAWN_IGNORED,
];

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

/// Where an incident kind comes in a customer's repair (`IncidentKind::ALL` order: access, plan,
/// trial, entitlements).
fn kind_rank(k: IncidentKind) -> usize {
    IncidentKind::ALL
        .iter()
        .position(|x| *x == k)
        .unwrap_or(usize::MAX)
}

/// The one repair of a customer's row for `incidents` (that customer's open incidents which
/// want a fix, any order): every column they drift in, set at once, each with its value as read
/// (`before`) and as it must become (`after`), in incident-kind order; naming the incidents
/// whose columns it writes. An incident no column can fix (`unknown_customer`, nothing
/// differs) is not named, and neither is one whose fix takes anything away while the customer
/// is in a `keep` grace state. `effect` is over every column, so a repair that gives one
/// column and takes another is a `change`, never a grant. `None` when nothing is left to write.
pub fn suggest(ctx: &Context<'_>, incidents: &[&Incident], id: String) -> Option<Repair> {
    let row = ctx.row?;
    let mut open: Vec<&Incident> = incidents
        .iter()
        .copied()
        .filter(|i| i.status == IncidentStatus::Open && i.actual.is_some())
        .collect();
    open.sort_by(|a, b| (kind_rank(a.kind), &a.id).cmp(&(kind_rank(b.kind), &b.id)));
    let mut changes: Vec<ColumnChange> = Vec::new();
    let mut named: Vec<&Incident> = Vec::new();
    for i in open {
        let Some(target) = i.expected.as_ref() else {
            continue;
        };
        let own = changes_for(ctx.mapping, i.kind, target, row);
        if own.is_empty() || (ctx.in_keep && effect(ctx.mapping, &own) != Effect::Grant) {
            continue;
        }
        for c in own {
            if !changes.iter().any(|x| x.column == c.column) {
                changes.push(c);
            }
        }
        named.push(i);
    }
    let first = named.first()?;
    let mut incident_ids: Vec<String> = named.iter().map(|i| i.id.clone()).collect();
    incident_ids.sort();
    Some(Repair {
        id,
        incident_id: first.id.clone(),
        incident_ids,
        customer: first.customer.clone(),
        status: RepairStatus::Pending,
        effect: effect(ctx.mapping, &changes),
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

/// How one customer's repair follows its incident plan. `live` are the customer's open and
/// ignored incidents before the plan, `changes` the plan (each opened or changed incident's
/// `repair_id` is set here), `latest` the repairs the live incidents name, by id.
///
/// The customer has at most one live repair, covering every open incident that wants one:
/// one opened or changed by this plan, one without a repair yet, one whose repair is pending,
/// one whose last repair ended `stale` or `failed` (the row moved on, or the database failed)
/// or was withdrawn by ParityRail (`Repair::is_withdrawn`). One whose last repair a person
/// rejected, or that ran without verifying, wants none: suggesting it again would repeat what
/// a person or the app already refused.
///
/// - While a repair of the customer runs, nothing is suggested (its verification re-checks the
///   customer, and a later check suggests again): a second live repair is never made.
/// - Otherwise the repair is suggested afresh from the row as read now (`suggest`). A pending
///   repair that would stay exactly the same (columns, `before` and `after` values, effect,
///   incidents, table and key column) stays; every other pending repair of the customer is withdrawn (`rejected`,
///   with the reason), and the fresh one, if any, replaces it. So a pending repair never keeps
///   a stale `before`, and never names an incident that resolved.
///
/// Returns the repair changes (withdrawals first) and, for unchanged incidents that the
/// customer's repair now names, the incident as it was and with its new `repair_id` (a link,
/// not an incident change: it is not audited as one, the `repair.created` entry names the
/// incidents).
pub fn follow(
    ctx: &Context<'_>,
    live: &[Incident],
    changes: &mut [Change],
    latest: &BTreeMap<String, Repair>,
    mut new_id: impl FnMut() -> String,
) -> (Vec<RepairChange>, Vec<(Incident, Incident)>) {
    let repair_of = |i: &Incident| i.repair_id.as_ref().and_then(|id| latest.get(id));
    let mut mine: Vec<&Repair> = Vec::new();
    for i in live.iter().chain(changes.iter().filter_map(Change::before)) {
        if let Some(r) = repair_of(i).filter(|r| r.is_live()) {
            if !mine.iter().any(|m| m.id == r.id) {
                mine.push(r);
            }
        }
    }
    // The customer's open incidents after the plan, and whether each wants a repair.
    let changed: Vec<String> = changes.iter().map(|c| c.after().id.clone()).collect();
    let unchanged = |i: &Incident| !changed.contains(&i.id);
    let mut open: Vec<(&Incident, bool)> = Vec::new();
    for c in changes.iter() {
        if c.after().status == IncidentStatus::Open {
            open.push((c.after(), true));
        }
    }
    for i in live {
        if i.status == IncidentStatus::Open && unchanged(i) {
            let wants = match (&i.repair_id, repair_of(i)) {
                (None, _) => true,
                (Some(_), Some(r)) => {
                    r.is_withdrawn()
                        || matches!(
                            r.status,
                            RepairStatus::Pending | RepairStatus::Stale | RepairStatus::Failed
                        )
                }
                (Some(_), None) => false,
            };
            open.push((i, wants));
        }
    }
    let is_open = |id: &str| open.iter().any(|(i, _)| i.id == id);
    let mut out = Vec::new();
    if mine.iter().any(|r| r.status == RepairStatus::Executing) {
        // Only a pending repair from before one repair per customer (migration 0021) can sit
        // beside a running one: it goes once an incident it names is no longer open.
        for p in mine.iter().filter(|p| p.status == RepairStatus::Pending) {
            if !p.incident_ids.iter().all(|id| is_open(id)) {
                out.push(withdrawn(p, WITHDRAWN_RESOLVED, ctx.now));
            }
        }
        return (out, Vec::new());
    }
    let wanting: Vec<&Incident> = open.iter().filter(|(_, w)| *w).map(|(i, _)| *i).collect();
    let fresh = suggest(ctx, &wanting, new_id());
    let same = |p: &Repair, f: &Repair| {
        (
            &p.changes,
            p.effect,
            &p.incident_ids,
            &p.table,
            &p.key_column,
        ) == (
            &f.changes,
            f.effect,
            &f.incident_ids,
            &f.table,
            &f.key_column,
        )
    };
    let kept = match (mine.as_slice(), &fresh) {
        ([p], Some(f)) if same(p, f) => Some((*p).clone()),
        _ => {
            for p in &mine {
                let reason = if !p.incident_ids.iter().any(|id| is_open(id)) {
                    WITHDRAWN_RESOLVED
                } else if fresh.is_some() {
                    WITHDRAWN_CHANGED
                } else {
                    WITHDRAWN_NO_FIX
                };
                out.push(withdrawn(p, reason, ctx.now));
            }
            if let Some(f) = &fresh {
                out.push(RepairChange::Created(Box::new(f.clone())));
            }
            fresh
        }
    };
    let Some(repair) = kept else {
        return (out, Vec::new());
    };
    let mut links = Vec::new();
    for c in changes.iter_mut() {
        if let Change::Opened(i) | Change::Updated { after: i, .. } = c {
            if repair.names(&i.id) {
                i.repair_id = Some(repair.id.clone());
            }
        }
    }
    for i in live {
        if unchanged(i) && repair.names(&i.id) && i.repair_id.as_deref() != Some(&repair.id) {
            let mut after = i.clone();
            after.repair_id = Some(repair.id.clone());
            links.push((i.clone(), after));
        }
    }
    (out, links)
}

#[cfg(test)]
mod tests;
