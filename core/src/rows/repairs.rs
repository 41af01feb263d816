//! Repair rows (migrations 0014, 0021). A row parses into `domain::repairs::Repair` here.

use crate::domain::reconcile::AppValues;
use crate::domain::repairs::{Effect, Repair, RepairStatus};
use crate::domain::time::Timestamp;
use crate::fault::{Fallible, Fault};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct RepairRow {
    pub id: String,
    pub incident_id: String,
    /// The JSON array of the incidents the repair resolves; NULL for a repair stored before
    /// migration 0021 (it resolves its one incident).
    pub incident_ids: Option<String>,
    pub customer: String,
    pub status: String,
    pub effect: String,
    pub table_name: String,
    pub key_column: String,
    pub changes: String,
    pub row_before: Option<String>,
    pub row_after: Option<String>,
    pub approved_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub executed_at: Option<String>,
    pub verified_at: Option<String>,
    pub error: Option<String>,
    pub reason: Option<String>,
}

impl RepairRow {
    /// The repair; a status, effect, JSON value or time that does not parse is a corrupt row
    /// (an internal fault naming the repair and the column).
    pub fn parse(self) -> Fallible<Repair> {
        let r = self;
        let bad = |what: &str| Fault::internal(format!("repair {}: bad {what}", r.id));
        let time = |s: &str| Timestamp::parse(s).map_err(|_| bad("timestamp"));
        let values = |s: &Option<String>| -> Fallible<Option<AppValues>> {
            s.as_deref()
                .map(|s| serde_json::from_str(s).map_err(|_| bad("row")))
                .transpose()
        };
        let incident_ids = match &r.incident_ids {
            None => vec![r.incident_id.clone()],
            Some(s) => serde_json::from_str::<Vec<String>>(s)
                .ok()
                .filter(|ids| ids.contains(&r.incident_id))
                .ok_or_else(|| bad("incident_ids"))?,
        };
        Ok(Repair {
            incident_ids,
            status: RepairStatus::parse(&r.status).ok_or_else(|| bad("status"))?,
            effect: Effect::parse(&r.effect).ok_or_else(|| bad("effect"))?,
            changes: serde_json::from_str(&r.changes).map_err(|_| bad("changes"))?,
            row_before: values(&r.row_before)?,
            row_after: values(&r.row_after)?,
            created_at: time(&r.created_at)?,
            updated_at: time(&r.updated_at)?,
            executed_at: r.executed_at.as_deref().map(time).transpose()?,
            verified_at: r.verified_at.as_deref().map(time).transpose()?,
            incident_id: r.incident_id.clone(),
            customer: r.customer.clone(),
            table: r.table_name.clone(),
            key_column: r.key_column.clone(),
            approved_by: r.approved_by.clone(),
            error: r.error.clone(),
            reason: r.reason.clone(),
            id: r.id,
        })
    }

    /// Every row parsed, or the first corrupt one's fault.
    pub fn parse_all(rows: Vec<RepairRow>) -> Fallible<Vec<Repair>> {
        rows.into_iter().map(RepairRow::parse).collect()
    }
}

/// A failed or stale repair as automatic approval's setbacks read it (migration 0021).
#[derive(Debug, Clone, Deserialize)]
pub struct SetbackRow {
    pub incident_id: String,
    pub incident_ids: Option<String>,
    pub status: String,
}

impl SetbackRow {
    /// `(incident, status)` for every incident the repair named (its `incident_id` alone when
    /// it names no list, or a list that does not parse: a setback is never lost).
    pub fn per_incident(self) -> Vec<(String, String)> {
        let ids = self
            .incident_ids
            .as_deref()
            .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
            .filter(|ids| !ids.is_empty())
            .unwrap_or_else(|| vec![self.incident_id.clone()]);
        ids.into_iter().map(|i| (i, self.status.clone())).collect()
    }
}
