//! What running an approved repair may send to the customer's database: an `ExecPlan` (one
//! row by key, every identifier checked against the current mapping, every column in the
//! allowlist, every value of its column's kind), or the `Refusal` that stops it before any SQL.

use super::mapping::Mapping;
use super::reconcile::AppValues;
use super::repairs::{ColumnChange, Repair};
use super::sqlident::{SqlIdent, TableName};
use serde_json::Value;

/// How the preview shows the parameter that is the locked row's address (`ctid`).
pub const CTID_PARAM: &str = "<the locked row's ctid>";

/// Why a repair cannot run as stored (checked before any SQL is sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the mapping's table or customer column changed since this repair was suggested")]
    MappingChanged,
    #[error("column {0:?} is not one a repair may write (the mapping's plan, premium, trial and entitlement columns)")]
    ColumnNotAllowed(String),
    #[error("column {0:?} is named twice")]
    ColumnRepeated(String),
    #[error("the new value of column {0:?} has the wrong type")]
    WrongType(String),
    #[error("the repair changes nothing")]
    Empty,
}

/// A repair ready to run: every identifier validated against the current mapping, every
/// column in its allowlist, every new value of the column's kind. The only input the database
/// layer takes for a write, so nothing unchecked reaches SQL.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecPlan {
    pub table: TableName,
    pub key_column: SqlIdent,
    pub key: String,
    /// The mapped columns, read before and after (the repair's `row_before` / `row_after`).
    pub read: Vec<SqlIdent>,
    /// The plan column (its reads are capped like every read of it).
    pub capped: SqlIdent,
    /// The columns written, with their expected and new values.
    pub writes: Vec<(SqlIdent, ColumnChange)>,
}

impl ExecPlan {
    pub fn new(r: &Repair, m: &Mapping) -> Result<ExecPlan, Refusal> {
        let table = m.table.to_string().replace('"', "");
        if r.table != table || r.key_column != m.customer_column.as_str() {
            return Err(Refusal::MappingChanged);
        }
        if r.changes.is_empty() {
            return Err(Refusal::Empty);
        }
        let allowed = m.repair_columns();
        let mut writes: Vec<(SqlIdent, ColumnChange)> = Vec::new();
        for c in &r.changes {
            let Some(col) = allowed.iter().find(|a| a.as_str() == c.column) else {
                return Err(Refusal::ColumnNotAllowed(c.column.clone()));
            };
            if writes.iter().any(|(w, _)| w.as_str() == c.column) {
                return Err(Refusal::ColumnRepeated(c.column.clone()));
            }
            let is_plan = **col == m.plan_column;
            let typed = matches!(
                (&c.after, is_plan),
                (Value::String(_), true) | (Value::Bool(_), false)
            );
            if !typed {
                return Err(Refusal::WrongType(c.column.clone()));
            }
            writes.push(((*col).clone(), c.clone()));
        }
        Ok(ExecPlan {
            table: m.table.clone(),
            key_column: m.customer_column.clone(),
            key: r.customer.clone(),
            read: m.value_columns(),
            capped: m.plan_column.clone(),
            writes,
        })
    }

    /// The columns every read of the row selects, the plan column capped like every read.
    fn select_list(&self) -> String {
        self.read
            .iter()
            .map(|c| {
                if *c == self.capped {
                    format!("left({c}, {}) AS {c}", super::reconcile::MAX_TEXT_CHARS)
                } else {
                    c.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Locks the rows with the key (at most two: one is required, a second is enough to
    /// refuse) and reads them with their physical address. `$1` is the key.
    pub fn lock_sql(&self) -> String {
        format!(
            "SELECT ctid::text AS \"__ctid\", {} FROM {} WHERE {} = $1 LIMIT 2 FOR UPDATE",
            self.select_list(),
            self.table,
            self.key_column
        )
    }

    /// Writes exactly the locked row (its address and its key) and returns it as written.
    /// `$1…$n` are the new values in `writes` order, `$n+1` the row's address, `$n+2` the key.
    pub fn update_sql(&self) -> String {
        let sets: Vec<String> = self
            .writes
            .iter()
            .enumerate()
            .map(|(i, (col, c))| {
                let ty = if c.after.is_boolean() {
                    "boolean"
                } else {
                    "text"
                };
                format!("{col} = ${}::{ty}", i + 1)
            })
            .collect();
        let n = self.writes.len();
        format!(
            "UPDATE {} SET {} WHERE ctid = ${}::text::tid AND {} = ${} RETURNING {}",
            self.table,
            sets.join(", "),
            n + 1,
            self.key_column,
            n + 2,
            self.select_list()
        )
    }

    /// What a reviewer is shown of the write, built from this plan and nothing else, so it is
    /// exactly what runs: `sql`, the one `UPDATE` (`update_sql`) setting every column of the
    /// repair at once, and `params`, its parameters in order (the new values, the locked row's
    /// address, known only once it is locked, then the key); `lock`, the `SELECT … FOR UPDATE`
    /// before it (its one parameter is the key). Identifiers double-quoted, values never in
    /// the SQL.
    pub fn preview(&self) -> Value {
        let mut params: Vec<Value> = self.writes.iter().map(|(_, c)| c.after.clone()).collect();
        params.push(Value::String(CTID_PARAM.to_owned()));
        params.push(Value::String(self.key.clone()));
        serde_json::json!({
            "sql": self.update_sql(),
            "params": params,
            "lock": self.lock_sql(),
        })
    }

    /// The columns whose live value differs from the expected `before` (empty: not stale).
    pub fn stale_columns(&self, live: &AppValues) -> Vec<String> {
        self.writes
            .iter()
            .filter(|(col, c)| live.get(col.as_str()).unwrap_or(&Value::Null) != &c.before)
            .map(|(col, _)| col.as_str().to_owned())
            .collect()
    }
}
