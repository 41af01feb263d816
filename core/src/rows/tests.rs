use super::exports::{self, ExportRow, ExportStatus};
use super::incidents::IncidentRow;
use super::keys::{self, KeyAuthRow, KeyRow, NewKeySpec};
use super::projects::{ProjectForMember, ProjectRow};
use super::repairs::{RepairRow, SetbackRow};
use super::runs::{self, RunRow};
use super::webhooks::Source;
use crate::domain::apikey::{Capability, Environment};
use crate::domain::audit::{Action, Actor};
use crate::domain::incidents::IncidentStatus;
use crate::domain::ports::FakeRng;
use crate::domain::reconcile::IncidentKind;
use crate::domain::records::{RunStatus, RunTrigger};
use crate::domain::repairs::{Effect, RepairStatus};
use crate::domain::roles::Role;
use crate::domain::runs::Phase;
use crate::domain::time::Timestamp;
use crate::fault::Fault;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

const T0: &str = "2026-01-01T00:00:00.000Z";
const KEY: &str = "key_0000000000000000000001";
const ORG: &str = "org_0000000000000000000001";
const MEM: &str = "mem_0000000000000000000001";
const MEM2: &str = "mem_0000000000000000000002";
const PRJ: &str = "prj_0000000000000000000001";

fn row<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn with(mut v: Value, field: &str, value: Value) -> Value {
    v[field] = value;
    v
}

fn internal(r: Result<impl std::fmt::Debug, Fault>) -> String {
    match r {
        Err(Fault::Internal(m)) => m,
        other => panic!("not an internal fault: {other:?}"),
    }
}

fn auth_row() -> Value {
    json!({
        "id": KEY, "org_id": ORG, "member_id": MEM, "environment": "live",
        "project_id": PRJ, "capability": "repair", "expires_at": T0, "revoked_at": null,
        "last_used_at": "yesterday", "role": "admin", "minted_by": MEM2, "minted_role": "member"
    })
}

#[test]
fn a_key_authenticates_with_its_stored_values_parsed() {
    let k = row::<KeyAuthRow>(auth_row()).parse().unwrap();
    assert_eq!(k.key_id.as_str(), KEY);
    assert_eq!(k.org.as_str(), ORG);
    assert_eq!(k.role, Role::Admin);
    assert_eq!(k.environment, Environment::Live);
    assert_eq!(k.project.unwrap().as_str(), PRJ);
    assert_eq!(k.capability, Capability::Repair);
    assert_eq!(k.expires_at, Some(Timestamp::parse(T0).unwrap()));
    assert!(!k.revoked);
    // An unparsable last use is advisory and ignored.
    assert_eq!(k.last_used_at, None);
    let (by, cap) = k.origin.unwrap();
    assert_eq!((by.as_str(), cap), (MEM2, Role::Member));
    let revoked = with(auth_row(), "revoked_at", json!(T0));
    assert!(row::<KeyAuthRow>(revoked).parse().unwrap().revoked);
}

#[test]
fn a_corrupt_key_row_does_not_authenticate() {
    for (field, value) in [
        ("id", json!("nope")),
        ("org_id", json!("key_0000000000000000000001")),
        ("role", json!("root")),
        ("environment", json!("staging")),
        ("project_id", json!("prj_x")),
        ("capability", json!("all")),
        ("expires_at", json!("soon")),
        ("minted_role", json!(null)),
        ("minted_by", json!(null)),
        ("minted_by", json!("someone")),
    ] {
        let r: KeyAuthRow = row(with(auth_row(), field, value.clone()));
        assert_eq!(r.parse(), None, "{field} = {value}");
    }
    let own = with(
        with(auth_row(), "minted_by", json!(null)),
        "minted_role",
        json!(null),
    );
    assert_eq!(row::<KeyAuthRow>(own).parse().unwrap().origin, None);
}

fn key_row() -> KeyRow {
    row(json!({
        "id": KEY, "name": "ci", "prefix": "pr_live_ab", "last4": "wxyz",
        "environment": "test", "project_id": null, "capability": "read", "member_id": MEM,
        "minted_by": MEM2, "minted_role": "member", "minted_via": null, "created_at": T0,
        "last_used_at": null, "expires_at": null, "revoked_at": null
    }))
}

#[test]
fn a_key_view_is_its_row_with_its_scope_and_no_secret() {
    let mut k = key_row();
    let v = keys::view(&k);
    assert_eq!(v["scope"], "org");
    assert_eq!(v["minted_role"], "member");
    assert_eq!(v.as_object().unwrap().len(), 16);
    assert!(v.get("key").is_none() && v.get("key_hash").is_none());
    k.project_id = Some(PRJ.into());
    assert_eq!(keys::view(&k)["scope"], PRJ);
    assert_eq!(k.origin(), Some((MEM2.to_owned(), Role::Member)));
    k.minted_role = None;
    assert_eq!(k.origin(), None);
}

fn spec(via: Option<&str>) -> NewKeySpec {
    NewKeySpec {
        name: "n".into(),
        environment: Environment::Test,
        capability: Capability::Read,
        project_id: Some(PRJ.into()),
        member_id: MEM.into(),
        expires_at: None,
        origin: Some((MEM2.into(), Role::Member)),
        via: via.map(str::to_owned),
    }
}

#[test]
fn a_minted_key_records_who_minted_it_and_shows_its_secret_only_when_asked() {
    let now = Timestamp::parse(T0).unwrap();
    let k = keys::mint(spec(Some(MEM2)), &mut FakeRng(7), now).unwrap();
    assert!(k.row.id.starts_with("key_"));
    assert_eq!(k.row.prefix, k.plain.prefix());
    assert_eq!(k.row.last4, k.plain.last4());
    assert!(k.plain.expose().starts_with("pr_test_"));
    assert_eq!(k.row.created_at, T0);
    assert_eq!(k.row.minted_by.as_deref(), Some(MEM2));
    assert_eq!(k.row.minted_role, Some(Role::Member));
    assert_eq!(k.row.minted_via.as_deref(), Some(MEM2));
    assert_eq!(k.view(true)["key"], k.plain.expose());
    assert!(k.view(false).get("key").is_none());
    assert_eq!(k.view(false)["scope"], PRJ);
    // Acting as the key's own member records no `minted_via`.
    let own = keys::mint(spec(Some(MEM)), &mut FakeRng(7), now).unwrap();
    assert_eq!(own.row.minted_via, None);
    // Different random bytes, different keys.
    let other = keys::mint(spec(None), &mut FakeRng(8), now).unwrap();
    assert_ne!(other.row.id, k.row.id);
    assert_ne!(other.plain.expose(), k.plain.expose());
}

#[test]
fn a_removal_revokes_each_key_with_its_cause() {
    let rows = vec![key_row(), {
        let mut k = key_row();
        k.id = "key_0000000000000000000002".into();
        k
    }];
    let drafts = keys::revoked_by_removal(&Actor::Operator, &rows, "t9", "member:mem_x");
    assert_eq!(drafts.len(), 2);
    for (d, r) in drafts.iter().zip(&rows) {
        assert_eq!(d.action, Action::KeyRevoked);
        assert_eq!(d.target, format!("key:{}", r.id));
        assert_eq!(d.actor, Actor::Operator);
        assert_eq!(d.before["revoked_at"], Value::Null);
        assert_eq!(d.after["revoked_at"], "t9");
        assert_eq!(d.after["revoked_because"], "member:mem_x");
        assert_eq!(d.after["scope"], "org");
    }
}

#[test]
fn a_project_row_reads_its_flag_as_an_integer_or_a_boolean() {
    let base = json!({
        "id": PRJ, "name": "p", "environment": "live", "reconcile_every_minutes": 60,
        "auto_approve_grants": 1, "created_at": T0, "updated_at": T0
    });
    assert!(row::<ProjectRow>(base.clone()).auto_approve_grants);
    assert!(
        !row::<ProjectRow>(with(base.clone(), "auto_approve_grants", json!(0))).auto_approve_grants
    );
    assert!(
        row::<ProjectRow>(with(base.clone(), "auto_approve_grants", json!(true)))
            .auto_approve_grants
    );
    let view = serde_json::to_value(row::<ProjectRow>(base.clone()).view()).unwrap();
    assert_eq!(view["auto_approve_grants"], true);
    let pm: ProjectForMember = row(with(base, "override_role", json!("admin")));
    assert_eq!(
        (pm.project.id.as_str(), pm.override_role),
        (PRJ, Some(Role::Admin))
    );
}

fn incident_row() -> Value {
    json!({
        "id": "inc_1", "kind": "plan_mismatch", "customer": "cus_1", "status": "open",
        "severity": "medium",
        "expected": r#"{"plan":"pro","premium":true,"trial":false,"entitlements":[]}"#,
        "actual": "null", "fingerprint": "f", "opened_at": T0, "updated_at": T0,
        "resolved_at": null, "reason": null, "repair_id": "rep_1"
    })
}

#[test]
fn an_incident_row_parses_and_a_corrupt_one_names_its_column() {
    let i = row::<IncidentRow>(incident_row()).parse().unwrap();
    assert_eq!(i.kind, IncidentKind::PlanMismatch);
    assert_eq!(i.status, IncidentStatus::Open);
    assert_eq!(i.expected.unwrap().plan, "pro");
    assert_eq!(i.actual, None);
    assert_eq!(i.repair_id.as_deref(), Some("rep_1"));
    for (field, value, what) in [
        ("kind", json!("drift"), "kind"),
        ("status", json!("closed"), "status"),
        ("expected", json!("{"), "expected"),
        ("actual", json!("[1]"), "actual"),
        ("opened_at", json!("x"), "timestamp"),
        ("resolved_at", json!("x"), "timestamp"),
    ] {
        let r: IncidentRow = row(with(incident_row(), field, value));
        assert_eq!(internal(r.parse()), format!("incident inc_1: bad {what}"));
    }
    let rows = vec![
        row(incident_row()),
        row(with(incident_row(), "kind", json!("?"))),
    ];
    assert!(IncidentRow::parse_all(rows).is_err());
}

fn repair_row() -> Value {
    json!({
        "id": "rep_1", "incident_id": "inc_1", "customer": "cus_1", "status": "pending",
        "effect": "grant", "table_name": "users", "key_column": "stripe_customer_id",
        "changes": "[]", "row_before": r#"{"plan":"free"}"#, "row_after": null,
        "approved_by": null, "created_at": T0, "updated_at": T0, "executed_at": null,
        "verified_at": null, "error": null, "reason": null
    })
}

#[test]
fn a_repair_row_parses_and_a_corrupt_one_names_its_column() {
    let r = row::<RepairRow>(repair_row()).parse().unwrap();
    assert_eq!(r.status, RepairStatus::Pending);
    assert_eq!(r.effect, Effect::Grant);
    assert_eq!(r.table, "users");
    assert!(r.row_before.is_some() && r.row_after.is_none());
    for (field, value, what) in [
        ("status", json!("done"), "status"),
        ("effect", json!("fix"), "effect"),
        ("changes", json!("{}"), "changes"),
        ("row_after", json!("nope"), "row"),
        ("verified_at", json!("x"), "timestamp"),
        ("incident_ids", json!("inc_1"), "incident_ids"),
        ("incident_ids", json!(r#"["inc_2"]"#), "incident_ids"),
    ] {
        let r: RepairRow = row(with(repair_row(), field, value));
        assert_eq!(internal(r.parse()), format!("repair rep_1: bad {what}"));
    }
}

#[test]
fn a_repair_names_its_incidents_and_one_from_before_migration_0021_names_its_one() {
    let old = row::<RepairRow>(repair_row()).parse().unwrap();
    assert_eq!(old.incident_ids, vec!["inc_1".to_owned()]);
    let both = with(repair_row(), "incident_ids", json!(r#"["inc_0","inc_1"]"#));
    let r = row::<RepairRow>(both).parse().unwrap();
    assert_eq!((r.incident_id.as_str(), r.incident_ids.len()), ("inc_1", 2));
    // Its audit and API form carries both.
    assert_eq!(json!(r)["incident_ids"], json!(["inc_0", "inc_1"]));
    // A failed repair counts against every incident it named.
    let setback = SetbackRow {
        incident_id: "inc_1".into(),
        incident_ids: Some(r#"["inc_0","inc_1"]"#.into()),
        status: "failed".into(),
    };
    assert_eq!(
        setback.per_incident(),
        vec![
            ("inc_0".to_owned(), "failed".to_owned()),
            ("inc_1".to_owned(), "failed".to_owned())
        ]
    );
}

fn run_row() -> Value {
    json!({
        "id": "run_1", "status": "running", "trigger_kind": "webhook", "customers_checked": 3,
        "incidents_opened": 1, "incidents_resolved": 0, "stripe_requests": 4,
        "db_round_trips": 2, "errors": r#"["e"]"#, "step": 5, "phase": "features",
        "cursor": "c", "started_at": T0, "updated_at": T0, "finished_at": null
    })
}

#[test]
fn a_run_row_parses_into_the_run_and_its_position() {
    let (run, pos) = row::<RunRow>(run_row()).parse().unwrap();
    assert_eq!(
        (run.status, run.trigger),
        (RunStatus::Running, RunTrigger::Webhook)
    );
    assert_eq!((run.customers_checked, run.stripe_requests), (3, 4));
    assert_eq!(run.errors, vec!["e".to_owned()]);
    assert_eq!(
        (pos.step, pos.phase, pos.cursor.as_deref()),
        (5, Phase::Features, Some("c"))
    );
    for (field, value, what) in [
        ("status", json!("paused"), "status"),
        ("trigger_kind", json!("manual"), "trigger"),
        ("incidents_opened", json!(-1), "count"),
        ("errors", json!("e"), "errors"),
        ("phase", json!("done"), "phase"),
        ("updated_at", json!("x"), "timestamp"),
    ] {
        let r: RunRow = row(with(run_row(), field, value));
        assert_eq!(internal(r.parse()), format!("run run_1: bad {what}"));
    }
    for t in [RunTrigger::Api, RunTrigger::Cron, RunTrigger::Webhook] {
        let r: RunRow = row(with(run_row(), "trigger_kind", json!(runs::trigger_str(t))));
        assert_eq!(r.parse().unwrap().0.trigger, t);
    }
    assert_eq!(runs::view(&run)["trigger"], json!(run.trigger));
}

fn export_row() -> Value {
    json!({
        "id": "exp_1", "project_id": PRJ, "status": "succeeded", "format": "both",
        "from_seq": 1, "to_seq": 9, "actions": r#"["repair.executed"]"#, "requested_by": "operator",
        "created_at": T0, "finished_at": T0, "entry_count": 4, "first_seq": 2,
        "first_hash": "aa", "last_seq": 8, "last_hash": null,
        "files": r#"[{"name":"audit.jsonl","bytes":10,"sha256":"ff"}]"#, "error": null
    })
}

#[test]
fn an_export_row_parses_and_its_view_links_its_files() {
    let e = row::<ExportRow>(export_row()).parse().unwrap();
    assert_eq!(e.status, ExportStatus::Succeeded);
    assert_eq!((e.from_seq, e.to_seq, e.count), (1, 9, Some(4)));
    assert_eq!(e.first.as_ref().map(|l| l.seq), Some(2));
    // Half a link is no link.
    assert!(e.last.is_none());
    let v = exports::view(&e);
    assert_eq!(v["status"], "succeeded");
    assert_eq!(
        v["range"],
        json!({"from_seq": 1, "to_seq": 9, "actions": ["repair.executed"]})
    );
    assert_eq!(
        v["files"][0]["url"],
        format!("/v1/projects/{PRJ}/exports/exp_1/files/audit.jsonl")
    );
    assert_eq!(v.as_object().unwrap().len(), 13);
    for (field, value, what) in [
        ("status", json!("done"), "status"),
        ("format", json!("xml"), "format"),
        ("actions", json!("x"), "actions"),
        ("files", json!("{"), "files"),
        ("to_seq", json!(-1), "range"),
    ] {
        let r: ExportRow = row(with(export_row(), field, value));
        assert_eq!(internal(r.parse()), format!("export exp_1: bad {what}"));
    }
    let empty = with(
        with(export_row(), "files", json!(null)),
        "actions",
        json!(null),
    );
    let e = row::<ExportRow>(empty).parse().unwrap();
    assert!(e.files.is_empty() && e.actions.is_none());
    for s in [
        ExportStatus::Running,
        ExportStatus::Succeeded,
        ExportStatus::Failed,
    ] {
        assert_eq!(json!(s), s.as_str());
    }
}

#[test]
fn sources_have_their_stored_names() {
    assert_eq!(Source::Webhook.as_str(), "webhook");
    assert_eq!(Source::EventsApi.as_str(), "events_api");
}

mod sessions;
