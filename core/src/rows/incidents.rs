//! Incident rows and their snapshots (migration 0010). A row parses into
//! `domain::incidents::Incident` here; nothing above the repository sees a status or kind as a
//! string.

use crate::domain::incidents::{Incident, IncidentStatus};
use crate::domain::reconcile::IncidentKind;
use crate::domain::time::Timestamp;
use crate::fault::{Fallible, Fault};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct IncidentRow {
    pub id: String,
    pub kind: String,
    pub customer: String,
    pub status: String,
    pub severity: String,
    pub expected: String,
    pub actual: String,
    pub fingerprint: String,
    pub opened_at: String,
    pub updated_at: String,
    pub resolved_at: Option<String>,
    pub reason: Option<String>,
    pub repair_id: Option<String>,
}

impl IncidentRow {
    /// The incident; a kind, status, JSON value or time that does not parse is a corrupt row
    /// (an internal fault naming the incident and the column).
    pub fn parse(self) -> Fallible<Incident> {
        let r = self;
        let bad = |what: &str| Fault::internal(format!("incident {}: bad {what}", r.id));
        let time = |s: &str| Timestamp::parse(s).map_err(|_| bad("timestamp"));
        Ok(Incident {
            kind: IncidentKind::parse(&r.kind).ok_or_else(|| bad("kind"))?,
            status: IncidentStatus::parse(&r.status).ok_or_else(|| bad("status"))?,
            expected: serde_json::from_str(&r.expected).map_err(|_| bad("expected"))?,
            actual: serde_json::from_str(&r.actual).map_err(|_| bad("actual"))?,
            opened_at: time(&r.opened_at)?,
            updated_at: time(&r.updated_at)?,
            resolved_at: r.resolved_at.as_deref().map(time).transpose()?,
            severity: r.severity.clone(),
            customer: r.customer.clone(),
            fingerprint: r.fingerprint.clone(),
            reason: r.reason.clone(),
            repair_id: r.repair_id.clone(),
            id: r.id,
        })
    }

    /// Every row parsed, or the first corrupt one's fault.
    pub fn parse_all(rows: Vec<IncidentRow>) -> Fallible<Vec<Incident>> {
        rows.into_iter().map(IncidentRow::parse).collect()
    }
}

/// What Stripe and the app showed when an incident was opened or updated.
#[derive(Debug, Clone, Deserialize)]
pub struct SnapshotRow {
    pub stripe: String,
    pub app: String,
    pub taken_at: String,
}
