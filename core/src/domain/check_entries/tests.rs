use super::*;
use crate::domain::audit::Action;
use crate::domain::incidents::{Change, IncidentStatus};
use crate::domain::repairs::{Repair, RepairStatus};
use crate::domain::runs::Decided;

fn incident(id: &str, status: &str) -> Incident {
    serde_json::from_value(json!({
        "id": id, "kind": "plan_mismatch", "customer": "cus_1", "status": status,
        "severity": "medium", "expected": null, "actual": null,
        "opened_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z",
        "resolved_at": null, "reason": null, "repair_id": null
    }))
    .unwrap()
}

fn repair(id: &str, status: &str) -> Repair {
    serde_json::from_value(json!({
        "id": id, "incident_id": "inc_1", "customer": "cus_1", "status": status,
        "effect": "grant", "table": "users", "key_column": "stripe_customer_id", "changes": [],
        "row_before": null, "row_after": null, "approved_by": null,
        "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z",
        "executed_at": null, "verified_at": null, "error": null, "reason": null
    }))
    .unwrap()
}

#[test]
fn a_plans_entries_are_its_incident_then_its_repair_changes_in_order() {
    let decided = Decided {
        drifts: Vec::new(),
        stripe: None,
        app: None,
    };
    let open = incident("inc_1", "open");
    let mut resolved = incident("inc_2", "resolved");
    resolved.reason = Some("gone".into());
    let pending = repair("rep_1", "pending");
    let withdrawn = pending.moved(RepairStatus::Rejected, pending.updated_at);
    let plans = vec![
        CustomerPlan {
            decided: &decided,
            incidents: vec![
                Change::Opened(open.clone()),
                Change::Resolved {
                    before: incident("inc_2", "open"),
                    after: resolved.clone(),
                },
            ],
            repairs: vec![RepairChange::Created(Box::new(pending.clone()))],
            links: Vec::new(),
        },
        CustomerPlan {
            decided: &decided,
            incidents: Vec::new(),
            repairs: vec![RepairChange::Withdrawn {
                before: Box::new(pending.clone()),
                after: Box::new(withdrawn.clone()),
            }],
            links: vec![(open.clone(), open.clone())],
        },
    ];
    let d = drafts(&Actor::System("cron"), &plans);
    let got: Vec<(Action, &str)> = d.iter().map(|d| (d.action, d.target.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (Action::IncidentOpened, "incident:inc_1"),
            (Action::IncidentResolved, "incident:inc_2"),
            (Action::RepairCreated, "repair:rep_1"),
            (Action::RepairRejected, "repair:rep_1"),
        ]
    );
    assert!(d.iter().all(|d| d.actor == Actor::System("cron")));
    assert_eq!(d[0].before, Value::Null);
    assert_eq!(d[0].after, view(&open));
    assert_eq!(d[1].before["status"], "open");
    assert_eq!(d[1].after["status"], "resolved");
    assert_eq!(d[1].after["reason"], "gone");
    assert_eq!(d[2].before, Value::Null);
    assert_eq!(d[2].after, json!(pending));
    assert_eq!(d[3].before["status"], "pending");
    assert_eq!(d[3].after["status"], "rejected");
    // The view is SPEC §15's fields: never the fingerprint.
    assert!(d[0].after.get("fingerprint").is_none());
    assert_eq!(open.status, IncidentStatus::Open);
}

#[test]
fn a_snapshot_keeps_a_side_whole_up_to_the_cap_and_only_its_size_beyond() {
    let small = json!({"subscriptions": ["sub_1"]});
    assert_eq!(capped(&small), small);
    let at_cap = json!("x".repeat(SNAPSHOT_MAX_BYTES - 2));
    assert_eq!(at_cap.to_string().len(), SNAPSHOT_MAX_BYTES);
    assert_eq!(capped(&at_cap), at_cap);
    let over = json!("x".repeat(SNAPSHOT_MAX_BYTES - 1));
    assert_eq!(
        capped(&over),
        json!({"truncated": true, "bytes": SNAPSHOT_MAX_BYTES + 1})
    );
}
