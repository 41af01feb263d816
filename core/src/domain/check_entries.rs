//! The audit entries a check's planned changes record (`checks::CustomerPlan`), and what they
//! show: an entry per incident opened, updated or resolved (the incident before and after, SPEC
//! §15 fields) and per repair created or withdrawn, in plan order; and the capped form of
//! either side's state an opened incident's snapshot keeps.

use super::audit::{Actor, Draft};
use super::checks::CustomerPlan;
use super::incidents::Incident;
use super::repairs::RepairChange;
use serde_json::{json, Value};

/// The API and audit view of an incident (SPEC §15 fields).
pub fn view(i: &Incident) -> Value {
    json!(i)
}

/// The most of one side's state a snapshot keeps (a customer with hundreds of subscriptions
/// must not make one D1 row, or one batch, huge).
pub const SNAPSHOT_MAX_BYTES: usize = 32 * 1024;

/// `v` as a snapshot keeps it: whole up to `SNAPSHOT_MAX_BYTES` of JSON text, else only that it
/// was truncated and how big it was.
pub fn capped(v: &Value) -> Value {
    let bytes = v.to_string().len();
    if bytes <= SNAPSHOT_MAX_BYTES {
        v.clone()
    } else {
        json!({"truncated": true, "bytes": bytes})
    }
}

/// The entries of `plans`, recorded as `actor`: per plan, its incident changes, then its repair
/// changes (a created repair has nothing before).
pub fn drafts(actor: &Actor, plans: &[CustomerPlan<'_>]) -> Vec<Draft> {
    let mut drafts = Vec::new();
    for plan in plans {
        for c in &plan.incidents {
            let after = c.after();
            drafts.push(Draft::new(
                actor.clone(),
                c.action(),
                format!("incident:{}", after.id),
                c.before().map_or(Value::Null, view),
                view(after),
            ));
        }
        for rc in &plan.repairs {
            let after = rc.after();
            let before = match rc {
                RepairChange::Created(_) => Value::Null,
                RepairChange::Withdrawn { before, .. } => json!(before),
            };
            drafts.push(Draft::new(
                actor.clone(),
                rc.action(),
                format!("repair:{}", after.id),
                before,
                json!(after),
            ));
        }
    }
    drafts
}

#[cfg(test)]
mod tests;
