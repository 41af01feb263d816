//! Incidents (SPEC §6, §15): what a check of one customer does to that customer's incidents,
//! as a pure plan. One open incident per (customer, kind): the same drift changing updates it in
//! place; a drift that is gone resolves it with a reason; an ignored drift stays ignored while
//! it is unchanged (same fingerprint), and a different drift opens a new incident. The edge
//! applies a plan in one D1 batch with an audit entry per change.

use super::audit::Action;
use super::canonical::to_canonical;
use super::reconcile::{Access, Drift, IncidentKind};
use super::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    Resolved,
    Ignored,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Resolved => "resolved",
            IncidentStatus::Ignored => "ignored",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(IncidentStatus::Open),
            "resolved" => Some(IncidentStatus::Resolved),
            "ignored" => Some(IncidentStatus::Ignored),
            _ => None,
        }
    }
}

/// An incident (SPEC §15 field names), plus the fingerprint of the drift it records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub kind: IncidentKind,
    pub customer: String,
    pub status: IncidentStatus,
    pub severity: String,
    pub expected: Option<Access>,
    pub actual: Option<Access>,
    #[serde(skip)]
    pub fingerprint: String,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub reason: Option<String>,
    pub repair_id: Option<String>,
}

/// What a check does to one incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Opened(Incident),
    Updated { before: Incident, after: Incident },
    Resolved { before: Incident, after: Incident },
}

impl Change {
    /// The audit action recording this change.
    pub fn action(&self) -> Action {
        match self {
            Change::Opened(_) => Action::IncidentOpened,
            Change::Updated { .. } => Action::IncidentUpdated,
            Change::Resolved { .. } => Action::IncidentResolved,
        }
    }

    pub fn after(&self) -> &Incident {
        match self {
            Change::Opened(i)
            | Change::Updated { after: i, .. }
            | Change::Resolved { after: i, .. } => i,
        }
    }

    pub fn before(&self) -> Option<&Incident> {
        match self {
            Change::Opened(_) => None,
            Change::Updated { before, .. } | Change::Resolved { before, .. } => Some(before),
        }
    }
}

/// The SHA-256 (hex) of the canonical JSON of a drift's kind and both sides: equal exactly
/// when the drift is the same.
pub fn fingerprint(d: &Drift) -> String {
    let v = json!({"kind": d.kind, "expected": d.expected, "actual": d.actual});
    hex(&Sha256::digest(to_canonical(&v).as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a resolved incident was resolved, in words.
pub const RESOLVED_REASON: &str = "the drift is gone: Stripe and the app agree again";

/// The changes a check of one customer makes. `existing` are that customer's `open` and
/// `ignored` incidents (any order); `drifts` what the check found now. `new_id` names each
/// opened incident. Deterministic: changes come in `IncidentKind` order.
pub fn plan(
    existing: &[Incident],
    drifts: &[Drift],
    now: Timestamp,
    mut new_id: impl FnMut() -> String,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for kind in IncidentKind::ALL {
        let open = existing
            .iter()
            .find(|i| i.kind == kind && i.status == IncidentStatus::Open);
        let drift = drifts.iter().find(|d| d.kind == kind);
        match (open, drift) {
            (Some(before), Some(d)) => {
                let fp = fingerprint(d);
                if before.fingerprint != fp {
                    let mut after = before.clone();
                    after.expected.clone_from(&d.expected);
                    after.actual.clone_from(&d.actual);
                    after.fingerprint = fp;
                    after.updated_at = now;
                    changes.push(Change::Updated {
                        before: before.clone(),
                        after,
                    });
                }
            }
            (None, Some(d)) => {
                let fp = fingerprint(d);
                let still_ignored = existing
                    .iter()
                    .filter(|i| i.kind == kind && i.status == IncidentStatus::Ignored)
                    .max_by_key(|i| (i.updated_at, i.id.clone()))
                    .is_some_and(|i| i.fingerprint == fp);
                if !still_ignored {
                    changes.push(Change::Opened(Incident {
                        id: new_id(),
                        kind,
                        customer: d.customer.clone(),
                        status: IncidentStatus::Open,
                        severity: kind.severity().to_owned(),
                        expected: d.expected.clone(),
                        actual: d.actual.clone(),
                        fingerprint: fp,
                        opened_at: now,
                        updated_at: now,
                        resolved_at: None,
                        reason: None,
                        repair_id: None,
                    }));
                }
            }
            (_, None) => {
                // The drift is gone: the open incident of this kind resolves, and ignored ones
                // close too, so the same drift coming back later is news again.
                let live = existing.iter().filter(|i| {
                    i.kind == kind
                        && matches!(i.status, IncidentStatus::Open | IncidentStatus::Ignored)
                });
                for before in live {
                    changes.push(Change::Resolved {
                        before: before.clone(),
                        after: resolved(before, now),
                    });
                }
            }
        }
    }
    changes
}

fn resolved(before: &Incident, now: Timestamp) -> Incident {
    let mut after = before.clone();
    after.status = IncidentStatus::Resolved;
    after.resolved_at = Some(now);
    after.updated_at = now;
    after.reason = Some(RESOLVED_REASON.to_owned());
    after
}

/// An open incident ignored with `reason` (`None` when it is not open: nothing to ignore).
pub fn ignore(i: &Incident, reason: &str, now: Timestamp) -> Option<Incident> {
    if i.status != IncidentStatus::Open {
        return None;
    }
    let mut after = i.clone();
    after.status = IncidentStatus::Ignored;
    after.reason = Some(reason.to_owned());
    after.updated_at = now;
    Some(after)
}

#[cfg(test)]
mod tests;
