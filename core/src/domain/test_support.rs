//! What the domain's engine tests share: running an engine's future to its end on a
//! single-threaded runtime (the engines are `!Send`, as on Workers), and a pending repair.

use super::repairs::{ColumnChange, Effect, Repair, RepairStatus};
use super::time::Timestamp;

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(f)
}

/// A pending repair of `incident` making one `change` to `public.accounts`, stored as `effect`.
pub fn pending_repair(id: &str, incident: &str, effect: Effect, change: ColumnChange) -> Repair {
    let t = Timestamp::from_millis(1);
    Repair {
        id: id.into(),
        incident_id: incident.into(),
        incident_ids: vec![incident.into()],
        customer: "cus_1".into(),
        status: RepairStatus::Pending,
        effect,
        table: "public.accounts".into(),
        key_column: "stripe_customer_id".into(),
        changes: vec![change],
        row_before: None,
        row_after: None,
        approved_by: None,
        created_at: t,
        updated_at: t,
        executed_at: None,
        verified_at: None,
        error: None,
        reason: None,
    }
}

/// `is_premium` set to `to`.
pub fn premium(to: bool) -> ColumnChange {
    ColumnChange {
        column: "is_premium".into(),
        before: serde_json::json!(!to),
        after: serde_json::json!(to),
    }
}
