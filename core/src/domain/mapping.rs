//! A project's mapping (SPEC §5, §15): where the app keeps each customer's access, how Stripe
//! prices and products become plans, and what each non-active Stripe status means. A `Mapping`
//! is only built by `MappingInput::validate`, so every identifier in it is a quoted-on-render
//! `SqlIdent` and every rule has been checked; the repair column allowlist comes from it alone.

use super::input::{safe_field, InputError};
use super::sqlident::{SqlIdent, TableName};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// At most this many plan-table entries and entitlement columns.
pub const MAX_PLANS: usize = 500;
pub const MAX_ENTITLEMENTS: usize = 64;
const MAX_RANK: i64 = 1_000_000;

/// What a Stripe subscription status means for access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraceRule {
    /// Keep whatever the app grants now: never a revocation, never a grant.
    Keep,
    /// No paid access.
    Revoke,
    /// Paid access, as if active.
    Access,
    /// Paid access with the trial flag (trialing only).
    Trial,
}

/// The non-active Stripe statuses the policy covers, in a fixed order.
pub const GRACE_STATUSES: [&str; 7] = [
    "past_due",
    "incomplete",
    "unpaid",
    "paused",
    "trialing",
    "canceled",
    "incomplete_expired",
];

/// The rule of every non-active status (SPEC §5 defaults for the ones not given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grace(pub BTreeMap<String, GraceRule>);

impl Default for Grace {
    fn default() -> Self {
        Grace(
            GRACE_STATUSES
                .iter()
                .map(|s| (s.to_string(), default_rule(s)))
                .collect(),
        )
    }
}

fn default_rule(status: &str) -> GraceRule {
    match status {
        "past_due" | "incomplete" => GraceRule::Keep,
        "trialing" => GraceRule::Trial,
        _ => GraceRule::Revoke,
    }
}

impl Grace {
    /// The rule for a Stripe status. `active` is paid access; a status Stripe may add later and
    /// this policy does not know is `Keep`: an unknown state never causes a revocation.
    pub fn rule(&self, status: &str) -> GraceRule {
        if status == "active" {
            return GraceRule::Access;
        }
        self.0.get(status).copied().unwrap_or(GraceRule::Keep)
    }
}

/// One plan-table entry: a Stripe price, legacy plan or product id → an app plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRule {
    pub plan: String,
    pub rank: i64,
    #[serde(default)]
    pub entitlements: BTreeSet<String>,
}

/// The mapping as a client sends it (`PUT …/mapping`); unknown fields are refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingInput {
    pub table: String,
    pub customer_column: String,
    pub plan_column: String,
    pub premium_column: Option<String>,
    pub trial_column: Option<String>,
    #[serde(default)]
    pub entitlements: BTreeMap<String, String>,
    pub plans: BTreeMap<String, PlanRule>,
    pub free_plan: String,
    #[serde(default)]
    pub grace: BTreeMap<String, GraceRule>,
}

/// A validated mapping. Serializes to the SPEC §15 shape (with every grace rule spelled out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub table: TableName,
    pub customer_column: SqlIdent,
    pub plan_column: SqlIdent,
    pub premium_column: Option<SqlIdent>,
    pub trial_column: Option<SqlIdent>,
    /// Entitlement feature lookup key → its bool column.
    pub entitlements: BTreeMap<String, SqlIdent>,
    pub plans: BTreeMap<String, PlanRule>,
    pub free_plan: String,
    pub grace: Grace,
}

/// One way the mapping does not fit the live table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnProblem {
    pub field: String,
    pub message: String,
}

/// How a column is used, for the live check of its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnUse {
    /// The Stripe customer id: text.
    Key,
    /// The plan: text.
    Text,
    /// Premium, trial and entitlement flags: boolean.
    Flag,
}

fn bad(field: &str, message: impl Into<String>) -> InputError {
    InputError::field(&safe_field(field), message)
}

fn ident(field: &str, s: &str) -> Result<SqlIdent, InputError> {
    SqlIdent::parse(s).map_err(|e| bad(field, e.to_string()))
}

fn label(field: &str, s: &str) -> Result<String, InputError> {
    let ok = !s.is_empty() && s.len() <= 100 && !s.chars().any(char::is_control) && s.trim() == s;
    if ok {
        Ok(s.to_owned())
    } else {
        Err(bad(
            field,
            "must be 1 to 100 printable characters without surrounding spaces",
        ))
    }
}

/// A Stripe object id or lookup key as a map key: printable ASCII, no spaces, 1..=255 bytes.
fn stripe_key(field: &str, s: &str) -> Result<(), InputError> {
    let ok = !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(bad(
            field,
            "keys must be 1 to 255 printable ASCII characters without spaces",
        ))
    }
}

impl MappingInput {
    /// Checks every rule of SPEC §5; the first failure names its field.
    pub fn validate(self) -> Result<Mapping, InputError> {
        let table = TableName::parse(&self.table)
            .map_err(|_| bad("table", "must be `table` or `schema.table` of SQL identifiers (letters, digits and _, starting with a letter or _, at most 63 each)"))?;
        // PostgreSQL's own catalogs are never an app table (an unqualified `pg_…` name resolves
        // to pg_catalog first).
        let system = |n: &str| n.starts_with("pg_") || n == "information_schema";
        if table.schema.as_ref().is_some_and(|s| system(s.as_str())) || system(table.table.as_str())
        {
            return Err(bad(
                "table",
                "must be an app table, not a PostgreSQL system catalog",
            ));
        }
        let customer_column = ident("customer_column", &self.customer_column)?;
        let plan_column = ident("plan_column", &self.plan_column)?;
        let premium_column = self
            .premium_column
            .as_deref()
            .map(|c| ident("premium_column", c))
            .transpose()?;
        let trial_column = self
            .trial_column
            .as_deref()
            .map(|c| ident("trial_column", c))
            .transpose()?;
        if self.entitlements.len() > MAX_ENTITLEMENTS {
            return Err(bad(
                "entitlements",
                format!("at most {MAX_ENTITLEMENTS} entitlement columns"),
            ));
        }
        let mut entitlements = BTreeMap::new();
        for (key, col) in &self.entitlements {
            stripe_key("entitlements", key)?;
            entitlements.insert(key.clone(), ident(&format!("entitlements.{key}"), col)?);
        }
        // Every column has one use: a column mapped twice would be repaired two ways.
        let mut seen = BTreeSet::new();
        let named = [
            ("customer_column", Some(&customer_column)),
            ("plan_column", Some(&plan_column)),
            ("premium_column", premium_column.as_ref()),
            ("trial_column", trial_column.as_ref()),
        ];
        let all = named
            .into_iter()
            .filter_map(|(f, c)| c.map(|c| (f.to_owned(), c)))
            .chain(
                entitlements
                    .iter()
                    .map(|(k, c)| (format!("entitlements.{k}"), c)),
            );
        for (field, col) in all {
            if !seen.insert(col.as_str().to_owned()) {
                return Err(bad(&field, "this column is already mapped to another use"));
            }
        }
        let free_plan = label("free_plan", &self.free_plan)?;
        if self.plans.is_empty() {
            return Err(bad("plans", "map at least one Stripe price or product"));
        }
        if self.plans.len() > MAX_PLANS {
            return Err(bad("plans", format!("at most {MAX_PLANS} entries")));
        }
        for (id, rule) in &self.plans {
            stripe_key("plans", id)?;
            let at = |f: &str| format!("plans.{id}.{f}");
            label(&at("plan"), &rule.plan)?;
            if rule.plan == free_plan {
                return Err(bad(
                    &at("plan"),
                    "a paid plan cannot have the free plan's name",
                ));
            }
            if !(1..=MAX_RANK).contains(&rule.rank) {
                return Err(bad(
                    &at("rank"),
                    format!("must be an integer from 1 to {MAX_RANK}"),
                ));
            }
            if rule
                .entitlements
                .iter()
                .any(|k| !entitlements.contains_key(k))
            {
                return Err(bad(
                    &at("entitlements"),
                    "names a feature that `entitlements` does not map to a column",
                ));
            }
        }
        // One plan name, one rank: the rank decides between subscriptions and drift direction.
        let mut ranks: BTreeMap<&str, i64> = BTreeMap::new();
        for (id, rule) in &self.plans {
            if let Some(r) = ranks.insert(&rule.plan, rule.rank) {
                if r != rule.rank {
                    return Err(bad(
                        &format!("plans.{id}.rank"),
                        "every entry of one plan must have the same rank",
                    ));
                }
            }
        }
        let mut grace = Grace::default();
        for (status, rule) in self.grace {
            if !GRACE_STATUSES.contains(&status.as_str()) {
                return Err(bad(
                    "grace",
                    format!("statuses are {}", GRACE_STATUSES.join(", ")),
                ));
            }
            let allowed = match status.as_str() {
                "trialing" => true,
                "canceled" | "incomplete_expired" => {
                    matches!(rule, GraceRule::Revoke | GraceRule::Keep)
                }
                _ => rule != GraceRule::Trial,
            };
            if !allowed {
                return Err(bad(
                    &format!("grace.{status}"),
                    match status.as_str() {
                        "canceled" | "incomplete_expired" => "must be revoke or keep",
                        _ => "must be keep, revoke or access (trial is for trialing only)",
                    },
                ));
            }
            grace.0.insert(status, rule);
        }
        Ok(Mapping {
            table,
            customer_column,
            plan_column,
            premium_column,
            trial_column,
            entitlements,
            plans: self.plans,
            free_plan,
            grace,
        })
    }
}

impl Mapping {
    /// The columns a repair may write: exactly the plan, premium, trial and entitlement columns.
    pub fn repair_columns(&self) -> Vec<&SqlIdent> {
        let mut cols = vec![&self.plan_column];
        cols.extend(self.premium_column.iter());
        cols.extend(self.trial_column.iter());
        cols.extend(self.entitlements.values());
        cols
    }

    /// Every mapped column with its use (key column first), for reads and the live type check.
    pub fn columns(&self) -> Vec<(&SqlIdent, ColumnUse)> {
        let mut cols = vec![
            (&self.customer_column, ColumnUse::Key),
            (&self.plan_column, ColumnUse::Text),
        ];
        cols.extend(
            self.repair_columns()
                .into_iter()
                .skip(1)
                .map(|c| (c, ColumnUse::Flag)),
        );
        cols
    }

    /// The columns a read of app rows selects besides the customer key.
    pub fn value_columns(&self) -> Vec<SqlIdent> {
        self.columns()
            .into_iter()
            .skip(1)
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// The rank of an app plan name: 0 for the free plan, `None` for a name the mapping lacks.
    pub fn rank_of(&self, plan: &str) -> Option<i64> {
        if plan == self.free_plan {
            return Some(0);
        }
        self.plans.values().find(|r| r.plan == plan).map(|r| r.rank)
    }

    /// Checks the mapping against the live table's columns (`(name, data_type)` as
    /// `information_schema` reports them; empty when the table is missing or unreadable).
    /// Every problem is listed, each naming the mapping field at fault; `Ok` when all fit.
    pub fn check_columns(&self, found: &[(String, String)]) -> Result<(), Vec<ColumnProblem>> {
        let table = self.table.to_string().replace('"', "");
        if found.is_empty() {
            return Err(vec![ColumnProblem {
                field: "table".into(),
                message: format!(
                    "table {table} does not exist, or the read role cannot see it (grant it SELECT)"
                ),
            }]);
        }
        let mut problems = Vec::new();
        let mut uses = vec![
            (
                "customer_column".to_owned(),
                &self.customer_column,
                ColumnUse::Key,
            ),
            ("plan_column".to_owned(), &self.plan_column, ColumnUse::Text),
        ];
        uses.extend(
            self.premium_column
                .iter()
                .map(|c| ("premium_column".to_owned(), c, ColumnUse::Flag)),
        );
        uses.extend(
            self.trial_column
                .iter()
                .map(|c| ("trial_column".to_owned(), c, ColumnUse::Flag)),
        );
        uses.extend(
            self.entitlements
                .iter()
                .map(|(k, c)| (safe_field(&format!("entitlements.{k}")), c, ColumnUse::Flag)),
        );
        for (field, col, usage) in uses {
            let name = col.as_str();
            let Some((_, ty)) = found.iter().find(|(n, _)| n == name) else {
                problems.push(ColumnProblem {
                    field,
                    message: format!("column {name} does not exist in table {table}"),
                });
                continue;
            };
            let (fits, wanted) = match usage {
                ColumnUse::Key | ColumnUse::Text => (
                    // Not `character(n)`: its blank padding would read as another plan.
                    matches!(ty.as_str(), "text" | "character varying"),
                    "text (text or varchar)",
                ),
                ColumnUse::Flag => (ty == "boolean", "boolean"),
            };
            if !fits {
                let ty: String = ty
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
                    .take(40)
                    .collect();
                problems.push(ColumnProblem {
                    field,
                    message: format!("column {name} is {ty}; it must be {wanted}"),
                });
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The SPEC §15 JSON shape, every grace rule spelled out.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "table": self.table.to_string().replace('"', ""),
            "customer_column": self.customer_column.as_str(),
            "plan_column": self.plan_column.as_str(),
            "premium_column": self.premium_column.as_ref().map(SqlIdent::as_str),
            "trial_column": self.trial_column.as_ref().map(SqlIdent::as_str),
            "entitlements": self.entitlements.iter().map(|(k, c)| (k.clone(), c.as_str().to_owned())).collect::<BTreeMap<_, _>>(),
            "plans": self.plans,
            "free_plan": self.free_plan,
            "grace": self.grace.0,
        })
    }

    /// Parses a stored mapping (written by `to_json`, so validating it again cannot fail unless
    /// the stored row was altered).
    pub fn from_json(v: &serde_json::Value) -> Result<Mapping, InputError> {
        let input: MappingInput = serde_json::from_value(v.clone())
            .map_err(|_| InputError::field("mapping", "the stored mapping does not parse"))?;
        input.validate()
    }
}

#[cfg(test)]
mod tests;

/// The sample mapping the unit tests of this and other modules use.
#[cfg(test)]
pub fn tests_sample() -> serde_json::Value {
    tests::sample()
}
