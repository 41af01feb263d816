//! A repair as the API shows it (the edge's answers, the coordinator's approvals).

use parityrail_core::domain::mapping::Mapping;
use parityrail_core::domain::repair_plan::ExecPlan;
use parityrail_core::domain::repairs::Repair;
use serde_json::{json, Value};

/// The API view of a repair (SPEC §15 fields, `incident_ids` every incident it resolves) with
/// the statement it runs, values apart, as the current mapping builds it (`ExecPlan::preview`,
/// the plan execution uses); `refused` says why it cannot run as stored.
pub fn view(r: &Repair, m: Option<&Mapping>) -> Value {
    let mut v = json!(r);
    v["statement"] = match m.map(|m| ExecPlan::new(r, m)) {
        Some(Ok(plan)) => plan.preview(),
        Some(Err(refusal)) => json!({"refused": refusal.to_string()}),
        None => Value::Null,
    };
    v
}
