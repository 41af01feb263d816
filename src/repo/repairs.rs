//! Repairs (migrations 0014, 0021: one live repair per customer row, naming its incidents). Rows parse into `domain::repairs::Repair` as they
//! are read (`parityrail_core::rows::repairs`). Every status change
//! is a `transition`: a guard row that aborts the batch unless the repair is still in the status
//! it was read in, then the update (the table's trigger refuses any move SPEC §8 does not allow).

use super::Arg;
use crate::auth::scope::{ProjectHandle, Scoped};
use parityrail_core::domain::reconcile::AppValues;
use parityrail_core::domain::repairs::{Effect, Repair, RepairStatus};
use parityrail_core::domain::time::Timestamp;
use parityrail_core::fault::Fallible;
use parityrail_core::rows::repairs::{RepairRow, SetbackRow};
use serde_json::json;

const COLS: &str =
    "id, incident_id, incident_ids, customer, status, effect, table_name, key_column, changes, \
                    row_before, row_after, approved_by, created_at, updated_at, executed_at, \
                    verified_at, error, reason";

pub async fn get(pr: &ProjectHandle, id: &str) -> Fallible<Option<Repair>> {
    let row: Option<RepairRow> = pr
        .tenant()
        .first(
            &format!(
                "SELECT {COLS} FROM repairs WHERE org_id = ?1 AND project_id = ?2 AND id = ?3"
            ),
            vec![Arg::text(pr.as_str()), Arg::text(id)],
        )
        .await?;
    row.map(RepairRow::parse).transpose()
}

/// The repairs the live (`open`, `ignored`) incidents of one customer name: what a check
/// plans repairs against.
pub async fn named_by_customer(pr: &ProjectHandle, customer: &str) -> Fallible<Vec<Repair>> {
    let rows: Vec<RepairRow> = pr
        .tenant()
        .all(
            &format!(
                "SELECT {COLS} FROM repairs WHERE org_id = ?1 AND project_id = ?2 AND id IN \
                 (SELECT repair_id FROM incidents WHERE org_id = ?1 AND project_id = ?2 \
                  AND customer = ?3 AND status IN (?4, ?5))"
            ),
            vec![
                Arg::text(pr.as_str()),
                Arg::text(customer),
                Arg::text("open"),
                Arg::text("ignored"),
            ],
        )
        .await?;
    RepairRow::parse_all(rows)
}

/// `named_by_customer` for the customers in `(after, upto]` (one step of a run).
pub async fn named_in_range(
    pr: &ProjectHandle,
    after: &str,
    upto: Option<&str>,
) -> Fallible<Vec<Repair>> {
    let rows: Vec<RepairRow> = pr
        .tenant()
        .all(
            &format!(
                "SELECT {COLS} FROM repairs WHERE org_id = ?1 AND project_id = ?2 AND id IN \
                 (SELECT repair_id FROM incidents WHERE org_id = ?1 AND project_id = ?2 \
                  AND customer > ?3 AND (?4 IS NULL OR customer <= ?4) \
                  AND status IN (?5, ?6))"
            ),
            vec![
                Arg::text(pr.as_str()),
                Arg::text(after),
                Arg::opt(upto),
                Arg::text("open"),
                Arg::text("ignored"),
            ],
        )
        .await?;
    RepairRow::parse_all(rows)
}

/// The `(incident id, status)` of every `failed` or `stale` repair of the given customers (at
/// most 100), one per incident each names: what keeps automatic approval from repeating what
/// already failed.
pub async fn setbacks(pr: &ProjectHandle, customers: &[String]) -> Fallible<Vec<(String, String)>> {
    if customers.is_empty() || customers.len() > 100 {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (0..customers.len())
        .map(|i| format!("?{}", i + 5))
        .collect();
    let mut args = vec![
        Arg::text(pr.as_str()),
        Arg::text("failed"),
        Arg::text("stale"),
    ];
    args.extend(customers.iter().map(Arg::text));
    let rows: Vec<SetbackRow> = pr
        .tenant()
        .all(
            &format!(
                "SELECT incident_id, incident_ids, status FROM repairs WHERE org_id = ?1 \
                 AND project_id = ?2 AND status IN (?3, ?4) AND customer IN ({})",
                marks.join(", ")
            ),
            args,
        )
        .await?;
    Ok(rows
        .into_iter()
        .flat_map(SetbackRow::per_incident)
        .collect())
}

/// Filters of `GET …/repairs`.
#[derive(Default)]
pub struct Filter {
    pub status: Option<RepairStatus>,
    pub effect: Option<Effect>,
    pub customer: Option<String>,
    pub incident: Option<String>,
}

/// A page of the project's repairs by id, after `after`, matching `f`.
pub async fn list(
    pr: &ProjectHandle,
    f: &Filter,
    after: &str,
    limit: u32,
) -> Fallible<Vec<Repair>> {
    let rows: Vec<RepairRow> = pr
        .tenant()
        .all(
            &format!(
                "SELECT {COLS} FROM repairs WHERE org_id = ?1 AND project_id = ?2 AND id > ?3 \
                 AND (?4 IS NULL OR status = ?4) AND (?5 IS NULL OR customer = ?5) \
                 AND (?6 IS NULL OR incident_id = ?6 OR instr(incident_ids, ?9) > 0) \
                 AND (?7 IS NULL OR effect = ?7) ORDER BY id LIMIT ?8"
            ),
            vec![
                Arg::text(pr.as_str()),
                Arg::text(after),
                Arg::opt(f.status.map(RepairStatus::as_str)),
                Arg::opt(f.customer.clone()),
                Arg::opt(f.incident.clone()),
                Arg::opt(f.effect.map(Effect::as_str)),
                Arg::Int(i64::from(limit)),
                // The incident as a JSON string: a whole element of `incident_ids`.
                Arg::opt(f.incident.as_ref().map(|i| json!(i).to_string())),
            ],
        )
        .await?;
    RepairRow::parse_all(rows)
}

fn json(v: &impl serde::Serialize) -> Arg {
    Arg::text(serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned()))
}

fn opt_json(v: &Option<AppValues>) -> Arg {
    v.as_ref().map_or(Arg::Null, json)
}

fn time(t: Option<Timestamp>) -> Arg {
    Arg::opt(t.map(Timestamp::to_rfc3339))
}

pub fn insert(pr: &ProjectHandle, r: &Repair) -> Fallible<Scoped> {
    pr.tenant().stmt(
        "INSERT INTO repairs (org_id, project_id, id, incident_id, customer, status, effect, \
         table_name, key_column, changes, row_before, row_after, approved_by, created_at, \
         updated_at, executed_at, verified_at, error, reason, incident_ids) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(&r.id),
            Arg::text(&r.incident_id),
            Arg::text(&r.customer),
            Arg::text(r.status.as_str()),
            Arg::text(r.effect.as_str()),
            Arg::text(&r.table),
            Arg::text(&r.key_column),
            json(&r.changes),
            opt_json(&r.row_before),
            opt_json(&r.row_after),
            Arg::opt(r.approved_by.clone()),
            Arg::text(r.created_at.to_rfc3339()),
            Arg::text(r.updated_at.to_rfc3339()),
            time(r.executed_at),
            time(r.verified_at),
            Arg::opt(r.error.clone()),
            Arg::opt(r.reason.clone()),
            json(&r.incident_ids),
        ],
    )
}

/// Moves a repair from `before` (as read) to `after`: the guard row (the batch aborts unless
/// the repair is still in `before`'s status), then the update of its changing fields.
pub fn transition(pr: &ProjectHandle, before: &Repair, after: &Repair) -> Fallible<Vec<Scoped>> {
    let t = pr.tenant();
    let guard = t.stmt(
        "INSERT INTO repair_checks (org_id, repair_id, status) VALUES (?1, ?2, ?3)",
        vec![Arg::text(&before.id), Arg::text(before.status.as_str())],
    )?;
    let update = t.stmt(
        "UPDATE repairs SET status = ?3, row_before = ?4, row_after = ?5, approved_by = ?6, \
         updated_at = ?7, executed_at = ?8, verified_at = ?9, error = ?10, reason = ?11 \
         WHERE org_id = ?1 AND project_id = ?2 AND id = ?12 AND status = ?13",
        vec![
            Arg::text(pr.as_str()),
            Arg::text(after.status.as_str()),
            opt_json(&after.row_before),
            opt_json(&after.row_after),
            Arg::opt(after.approved_by.clone()),
            Arg::text(after.updated_at.to_rfc3339()),
            time(after.executed_at),
            time(after.verified_at),
            Arg::opt(after.error.clone()),
            Arg::opt(after.reason.clone()),
            Arg::text(&before.id),
            Arg::text(before.status.as_str()),
        ],
    )?;
    Ok(vec![guard, update])
}
