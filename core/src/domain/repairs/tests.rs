use super::*;
use crate::domain::incidents;
use crate::domain::mapping::MappingInput;
use crate::domain::reconcile::{self, Drift, ItemFacts, ProductFeatures, StripeCustomer, SubFacts};
use crate::domain::repair_plan::{ExecPlan, Refusal};
use proptest::prelude::*;
use serde_json::json;
use std::collections::BTreeSet;

fn mapping() -> Mapping {
    let input: MappingInput =
        serde_json::from_value(crate::domain::mapping::tests_sample()).unwrap();
    input.validate().unwrap()
}

fn row(plan: Option<&str>, premium: bool, trial: bool, sso: bool) -> AppValues {
    [
        ("plan", plan.map_or(Value::Null, |p| json!(p))),
        ("is_premium", json!(premium)),
        ("on_trial", json!(trial)),
        ("feature_sso", json!(sso)),
        ("feature_audit", json!(false)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn ids(prefix: &'static str) -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("{prefix}{n}")
    }
}

fn sub(status: &str, price: &str) -> SubFacts {
    SubFacts {
        id: format!("sub_{status}_{price}"),
        status: status.into(),
        items: vec![ItemFacts {
            price: Some(price.into()),
            product: Some(format!("prod_of_{price}")),
        }],
    }
}

/// The drifts a check finds for `subs` against `app`, and whether a subscription is in `keep`.
fn drifts(m: &Mapping, subs: Vec<SubFacts>, app: &AppValues) -> (Vec<Drift>, bool) {
    let in_keep = subs
        .iter()
        .any(|s| m.grace.rule(&s.status) == crate::domain::mapping::GraceRule::Keep);
    let s = StripeCustomer {
        subscriptions: subs,
        active_entitlements: None,
    };
    let e = reconcile::expected(m, &s, &ProductFeatures::new());
    let a = reconcile::actual(m, app);
    (reconcile::diff(m, "cus_1", Some(&e), Some(&a)), in_keep)
}

/// The incidents a first check opens, with the repairs `follow` suggests for them.
fn first_check(
    m: &Mapping,
    subs: Vec<SubFacts>,
    app: &AppValues,
) -> (Vec<Change>, Vec<RepairChange>) {
    let (d, in_keep) = drifts(m, subs, app);
    let mut changes = incidents::plan(&[], &d, at(1), ids("inc_"));
    let ctx = Context {
        mapping: m,
        row: Some(app),
        in_keep,
        now: at(1),
    };
    let (repairs, links) = follow(&ctx, &[], &mut changes, &BTreeMap::new(), ids("rep_"));
    assert!(links.is_empty());
    (changes, repairs)
}

fn created(rc: &[RepairChange]) -> Vec<&Repair> {
    rc.iter()
        .filter_map(|c| match c {
            RepairChange::Created(r) => Some(r.as_ref()),
            RepairChange::Withdrawn { .. } => None,
        })
        .collect()
}

#[test]
fn a_locked_out_payer_gets_a_grant_of_plan_and_premium_with_the_values_as_read() {
    let m = mapping();
    let app = row(None, false, false, true);
    let (changes, rc) = first_check(&m, vec![sub("active", "price_pro")], &app);
    let r = created(&rc);
    assert_eq!(r.len(), 1, "{rc:?}");
    let r = r[0];
    assert_eq!(r.status, RepairStatus::Pending);
    assert_eq!(r.effect, Effect::Grant);
    assert_eq!(r.table, "public.accounts");
    assert_eq!(r.key_column, "stripe_customer_id");
    assert_eq!(
        r.changes,
        vec![
            ColumnChange {
                column: "plan".into(),
                before: Value::Null,
                after: json!("pro")
            },
            ColumnChange {
                column: "is_premium".into(),
                before: json!(false),
                after: json!(true)
            },
        ]
    );
    // The incident names its repair.
    let inc = changes
        .iter()
        .find(|c| c.after().kind == IncidentKind::MissingAccess)
        .unwrap();
    assert_eq!(inc.after().repair_id.as_deref(), Some(r.id.as_str()));
    assert_eq!(r.incident_id, inc.after().id);
}

#[test]
fn a_canceled_customer_still_premium_gets_a_revocation() {
    let m = mapping();
    let app = row(Some("pro"), true, false, true);
    let (_, rc) = first_check(&m, vec![sub("canceled", "price_pro")], &app);
    let r = created(&rc);
    let plan_fix = r
        .iter()
        .find(|r| r.changes.iter().any(|c| c.column == "plan"))
        .unwrap();
    assert_eq!(plan_fix.effect, Effect::Revocation);
    assert_eq!(
        plan_fix
            .changes
            .iter()
            .map(|c| &c.after)
            .collect::<Vec<_>>(),
        vec![&json!("free"), &json!(false)]
    );
    // The entitlement the canceled plan gave is taken away by its own repair.
    let sso = r
        .iter()
        .find(|r| r.changes.iter().any(|c| c.column == "feature_sso"))
        .unwrap();
    assert_eq!(sso.effect, Effect::Revocation);
}

#[test]
fn no_revocation_is_suggested_while_a_subscription_is_in_a_keep_state() {
    let m = mapping();
    // past_due keeps: the diff already keeps what the app grants, and even a forced drift that
    // would take something away gets no repair.
    let app = row(Some("pro"), true, false, true);
    let (_, rc) = first_check(&m, vec![sub("past_due", "price_basic")], &app);
    assert!(created(&rc).iter().all(|r| r.effect == Effect::Grant));
    let i = Incident {
        id: "inc_x".into(),
        kind: IncidentKind::UnpaidAccess,
        customer: "cus_1".into(),
        status: IncidentStatus::Open,
        severity: "high".into(),
        expected: Some(reconcile::actual(&m, &row(None, false, false, false))),
        actual: Some(reconcile::actual(&m, &app)),
        fingerprint: String::new(),
        opened_at: at(0),
        updated_at: at(0),
        resolved_at: None,
        reason: None,
        repair_id: None,
    };
    let mut ctx = Context {
        mapping: &m,
        row: Some(&app),
        in_keep: true,
        now: at(1),
    };
    assert_eq!(suggest(&ctx, &i, "rep_1".into()), None);
    ctx.in_keep = false;
    assert_eq!(
        suggest(&ctx, &i, "rep_1".into()).map(|r| r.effect),
        Some(Effect::Revocation)
    );
}

#[test]
fn an_unknown_customer_gets_no_repair() {
    let m = mapping();
    let app = row(Some("pro"), true, false, false);
    let a = reconcile::actual(&m, &app);
    let d = reconcile::diff(&m, "cus_1", None, Some(&a));
    assert_eq!(d[0].kind, IncidentKind::UnknownCustomer);
    let mut changes = incidents::plan(&[], &d, at(1), ids("inc_"));
    let ctx = Context {
        mapping: &m,
        row: Some(&app),
        in_keep: false,
        now: at(1),
    };
    let (rc, _) = follow(&ctx, &[], &mut changes, &BTreeMap::new(), ids("rep_"));
    assert!(rc.is_empty());
    assert_eq!(changes[0].after().repair_id, None);
}

#[test]
fn a_plan_downgrade_is_never_a_grant_and_an_upgrade_is() {
    let m = mapping();
    let change = |before: Value, after: &str| ColumnChange {
        column: "plan".into(),
        before,
        after: json!(after),
    };
    assert_eq!(effect(&m, &[change(json!("basic"), "pro")]), Effect::Grant);
    assert_eq!(effect(&m, &[change(Value::Null, "basic")]), Effect::Grant);
    assert_eq!(
        effect(&m, &[change(json!("team"), "pro")]),
        Effect::Revocation
    );
    // Same rank, or a plan the mapping does not rank: not a grant.
    assert_eq!(
        effect(&m, &[change(json!("plus"), "pro")]),
        Effect::Revocation
    );
    assert_eq!(
        effect(&m, &[change(json!("legacy_gold"), "pro")]),
        Effect::Revocation
    );
    let flag = |after: bool| ColumnChange {
        column: "feature_sso".into(),
        before: json!(!after),
        after: json!(after),
    };
    assert_eq!(
        effect(&m, &[change(json!("basic"), "pro"), flag(false)]),
        Effect::Change
    );
}

fn pending(id: &str, incident: &str) -> Repair {
    let plan = ColumnChange {
        column: "plan".into(),
        before: Value::Null,
        after: json!("pro"),
    };
    crate::domain::test_support::pending_repair(id, incident, Effect::Grant, plan)
}

#[test]
fn a_pending_repair_is_withdrawn_when_its_incident_resolves_or_changes() {
    let m = mapping();
    let locked_out = row(None, false, false, true);
    let (mut first, rc) = first_check(&m, vec![sub("active", "price_pro")], &locked_out);
    let repair = created(&rc)[0].clone();
    let live: Vec<Incident> = first.drain(..).map(|c| c.after().clone()).collect();
    let latest: BTreeMap<String, Repair> = [(repair.id.clone(), repair.clone())].into();

    // Fixed by hand: the incident resolves, the repair is withdrawn.
    let fixed = row(Some("pro"), true, false, true);
    let (d, _) = drifts(&m, vec![sub("active", "price_pro")], &fixed);
    let mut changes = incidents::plan(&live, &d, at(2), ids("inc_new_"));
    let ctx = Context {
        mapping: &m,
        row: Some(&fixed),
        in_keep: false,
        now: at(2),
    };
    let (rc, _) = follow(&ctx, &live, &mut changes, &latest, ids("rep_new_"));
    match rc.as_slice() {
        [RepairChange::Withdrawn { before, after }] => {
            assert_eq!(before.id, repair.id);
            assert_eq!(after.status, RepairStatus::Rejected);
            assert_eq!(after.reason.as_deref(), Some(WITHDRAWN_RESOLVED));
        }
        other => panic!("{other:?}"),
    }

    // Upgraded to team meanwhile: the drift changed, the old repair goes, a new one comes.
    let (d, _) = drifts(&m, vec![sub("active", "prod_team")], &locked_out);
    let mut changes = incidents::plan(&live, &d, at(2), ids("inc_new_"));
    let ctx = Context {
        row: Some(&locked_out),
        ..ctx
    };
    let (rc, _) = follow(&ctx, &live, &mut changes, &latest, ids("rep_new_"));
    // (Team carries no SSO: that drift opens an incident with a repair of its own.)
    assert_eq!(rc.len(), 3, "{rc:?}");
    assert!(matches!(&rc[0], RepairChange::Withdrawn { after, .. }
        if after.reason.as_deref() == Some(WITHDRAWN_CHANGED)));
    let new = created(&rc)
        .into_iter()
        .find(|r| r.incident_id == repair.incident_id)
        .unwrap();
    assert_eq!(new.changes[0].after, json!("team"));
    let updated = changes
        .iter()
        .find(|c| c.after().kind == IncidentKind::MissingAccess)
        .unwrap();
    assert_eq!(updated.after().repair_id.as_deref(), Some(new.id.as_str()));
}

#[test]
fn a_pending_repair_stays_when_the_drift_changed_only_in_columns_it_does_not_write() {
    let m = mapping();
    // Canceled, still pro with SSO: a revocation of plan/premium and one of SSO.
    let granted = row(Some("pro"), true, false, true);
    let (mut first, rc) = first_check(&m, vec![sub("canceled", "price_pro")], &granted);
    let sso = created(&rc)
        .into_iter()
        .find(|r| r.changes[0].column == "feature_sso")
        .unwrap()
        .clone();
    let live: Vec<Incident> = first.drain(..).map(|c| c.after().clone()).collect();
    let latest: BTreeMap<String, Repair> = created(&rc)
        .into_iter()
        .map(|r| (r.id.clone(), r.clone()))
        .collect();
    // The plan repair ran: the SSO incident's `actual` changed (plan, premium), its fix did not.
    let revoked = row(Some("free"), false, false, true);
    let (d, _) = drifts(&m, vec![sub("canceled", "price_pro")], &revoked);
    let mut changes = incidents::plan(&live, &d, at(2), ids("inc_new_"));
    let ctx = Context {
        mapping: &m,
        row: Some(&revoked),
        in_keep: false,
        now: at(2),
    };
    let (rc, links) = follow(&ctx, &live, &mut changes, &latest, ids("rep_new_"));
    assert!(links.is_empty());
    assert!(
        rc.iter().all(|c| c.after().id != sso.id),
        "the SSO repair was withdrawn: {rc:?}"
    );
    let updated = changes
        .iter()
        .find(|c| c.after().kind == IncidentKind::EntitlementMismatch)
        .unwrap();
    assert!(matches!(updated, Change::Updated { .. }));
    assert_eq!(updated.after().repair_id.as_deref(), Some(sso.id.as_str()));
}

#[test]
fn an_incident_whose_repair_is_running_gets_no_second_repair_when_its_drift_changes() {
    let m = mapping();
    let locked_out = row(None, false, false, true);
    let (mut first, rc) = first_check(&m, vec![sub("active", "price_pro")], &locked_out);
    let mut running = created(&rc)[0].clone();
    running.status = RepairStatus::Executing;
    let live: Vec<Incident> = first.drain(..).map(|c| c.after().clone()).collect();
    let latest: BTreeMap<String, Repair> = [(running.id.clone(), running.clone())].into();
    // Upgraded to team while the pro grant runs: the incident changes, the repair stays alone.
    let (d, _) = drifts(&m, vec![sub("active", "prod_team")], &locked_out);
    let mut changes = incidents::plan(&live, &d, at(2), ids("inc_new_"));
    let ctx = Context {
        mapping: &m,
        row: Some(&locked_out),
        in_keep: false,
        now: at(2),
    };
    let (rc, _) = follow(&ctx, &live, &mut changes, &latest, ids("rep_new_"));
    assert!(
        rc.iter()
            .all(|c| c.after().incident_id != running.incident_id),
        "{rc:?}"
    );
    let updated = changes
        .iter()
        .find(|c| c.after().id == running.incident_id)
        .unwrap();
    assert_eq!(
        updated.after().repair_id.as_deref(),
        Some(running.id.as_str())
    );
}

#[test]
fn an_unchanged_incident_gets_a_repair_when_it_has_none_or_its_last_went_stale() {
    let m = mapping();
    let app = row(None, false, false, true);
    let (d, _) = drifts(&m, vec![sub("active", "price_pro")], &app);
    let live: Vec<Incident> = incidents::plan(&[], &d, at(1), ids("inc_"))
        .into_iter()
        .map(|c| c.after().clone())
        .collect();
    let ctx = Context {
        mapping: &m,
        row: Some(&app),
        in_keep: false,
        now: at(2),
    };
    // No repair yet (an incident from before repairs existed): one is suggested and linked.
    let mut changes = incidents::plan(&live, &d, at(2), ids("x_"));
    assert!(changes.is_empty());
    let (rc, links) = follow(&ctx, &live, &mut changes, &BTreeMap::new(), ids("rep_"));
    assert_eq!(created(&rc).len(), 1);
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].1.repair_id.as_deref(), Some("rep_1"));

    // Its repair went stale or failed: suggested again. Rejected by a person, or executed but
    // not verified: not again.
    let mut linked = live.clone();
    linked[0].repair_id = Some("rep_old".into());
    for (status, again) in [
        (RepairStatus::Stale, true),
        (RepairStatus::Failed, true),
        (RepairStatus::Rejected, false),
        (RepairStatus::Unverified, false),
        (RepairStatus::Pending, false),
        (RepairStatus::Executing, false),
    ] {
        let mut old = pending("rep_old", &linked[0].id);
        old.status = status;
        let latest = [(old.id.clone(), old)].into();
        let (rc, links) = follow(&ctx, &linked, &mut [], &latest, ids("rep_"));
        assert_eq!(!rc.is_empty(), again, "{status:?}");
        assert_eq!(!links.is_empty(), again, "{status:?}");
    }
}

#[test]
fn the_status_machine_allows_exactly_the_spec_transitions() {
    use RepairStatus::*;
    let allowed = [
        (Pending, Executing),
        (Pending, Rejected),
        (Executing, Executed),
        (Executing, Stale),
        (Executing, Failed),
        (Executed, Verified),
        (Executed, Unverified),
    ];
    for a in RepairStatus::ALL {
        for b in RepairStatus::ALL {
            assert_eq!(a.may_become(b), allowed.contains(&(a, b)), "{a:?} → {b:?}");
        }
        assert_eq!(RepairStatus::parse(a.as_str()), Some(a));
    }
}

fn executable() -> Repair {
    let mut r = pending("rep_1", "inc_1");
    r.changes.push(ColumnChange {
        column: "is_premium".into(),
        before: json!(false),
        after: json!(true),
    });
    r
}

#[test]
fn the_statements_quote_identifiers_and_carry_values_only_as_parameters() {
    let m = mapping();
    let mut r = executable();
    r.customer = "cus_1'; DROP TABLE accounts; --".into();
    let plan = ExecPlan::new(&r, &m).unwrap();
    assert_eq!(
        plan.lock_sql(),
        "SELECT ctid::text AS \"__ctid\", left(\"plan\", 256) AS \"plan\", \"is_premium\", \
         \"on_trial\", \"feature_audit\", \"feature_sso\" FROM \"public\".\"accounts\" \
         WHERE \"stripe_customer_id\" = $1 LIMIT 2 FOR UPDATE"
    );
    assert_eq!(
        plan.update_sql(),
        "UPDATE \"public\".\"accounts\" SET \"plan\" = $1::text, \"is_premium\" = $2::boolean \
         WHERE ctid = $3::text::tid AND \"stripe_customer_id\" = $4 RETURNING left(\"plan\", 256) AS \
         \"plan\", \"is_premium\", \"on_trial\", \"feature_audit\", \"feature_sso\""
    );
    let preview = plan.preview();
    assert!(!preview
        .to_string()
        .contains("DROP TABLE accounts; --\\\" ="));
    assert_eq!(preview["params"][0], json!("pro"));
    assert_eq!(preview["params"][3], json!(r.customer));
    assert!(!plan.update_sql().contains("pro"));
}

#[test]
fn a_repair_outside_the_allowlist_or_against_a_changed_mapping_is_refused_before_any_sql() {
    let m = mapping();
    let mut r = executable();
    r.changes[0].column = "seats".into();
    assert_eq!(
        ExecPlan::new(&r, &m),
        Err(Refusal::ColumnNotAllowed("seats".into()))
    );
    let mut r = executable();
    r.changes[0].column = "stripe_customer_id".into();
    assert_eq!(
        ExecPlan::new(&r, &m),
        Err(Refusal::ColumnNotAllowed("stripe_customer_id".into()))
    );
    let mut r = executable();
    r.changes[1].column = "plan".into();
    assert!(ExecPlan::new(&r, &m).is_err());
    let mut r = executable();
    r.table = "public.other".into();
    assert_eq!(ExecPlan::new(&r, &m), Err(Refusal::MappingChanged));
    let mut r = executable();
    r.changes[1].after = json!("yes");
    assert_eq!(
        ExecPlan::new(&r, &m),
        Err(Refusal::WrongType("is_premium".into()))
    );
    let mut r = executable();
    r.changes.clear();
    assert_eq!(ExecPlan::new(&r, &m), Err(Refusal::Empty));
}

#[test]
fn stale_means_a_written_column_no_longer_holds_its_expected_value() {
    let m = mapping();
    let plan = ExecPlan::new(&executable(), &m).unwrap();
    let live = row(None, false, false, false);
    assert!(plan.stale_columns(&live).is_empty());
    let moved = row(Some("basic"), false, false, false);
    assert_eq!(plan.stale_columns(&moved), vec!["plan".to_owned()]);
    // An unwritten column moving does not make the repair stale.
    let other = row(None, false, true, true);
    assert!(plan.stale_columns(&other).is_empty());
}

fn arb_row() -> impl Strategy<Value = AppValues> {
    (
        prop::option::of(prop::sample::select(vec![
            "free", "basic", "pro", "team", "gold",
        ])),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(p, prem, t, s)| row(p, prem, t, s))
}

fn arb_subs() -> impl Strategy<Value = Vec<SubFacts>> {
    prop::collection::vec(
        (
            prop::sample::select(vec![
                "active",
                "trialing",
                "past_due",
                "canceled",
                "unpaid",
                "incomplete",
            ]),
            prop::sample::select(vec!["price_pro", "price_basic", "prod_team", "price_x"]),
        )
            .prop_map(|(s, p)| sub(s, p)),
        0..3,
    )
}

proptest! {
    /// Applying every suggested repair to the row fixes every drift it was suggested for, and a
    /// customer in a `keep` state never gets a repair that takes anything away.
    #[test]
    fn applied_repairs_fix_their_drifts_and_keep_never_loses_access(
        app in arb_row(), subs in arb_subs()
    ) {
        let m = mapping();
        let (changes, rc) = first_check(&m, subs.clone(), &app);
        let (_, in_keep) = drifts(&m, subs.clone(), &app);
        let mut fixed = app.clone();
        let mut kinds = BTreeSet::new();
        for r in created(&rc) {
            prop_assert!(ExecPlan::new(r, &m).is_ok());
            if in_keep {
                prop_assert_eq!(r.effect, Effect::Grant);
            }
            for c in &r.changes {
                prop_assert_eq!(fixed.get(&c.column).unwrap_or(&Value::Null), &c.before);
                fixed.insert(c.column.clone(), c.after.clone());
            }
            let inc = changes.iter().find(|c| c.after().id == r.incident_id).unwrap();
            kinds.insert(inc.after().kind);
        }
        let (after, _) = drifts(&m, subs, &fixed);
        for d in after {
            prop_assert!(!kinds.contains(&d.kind), "{:?} survives its repair", d.kind);
        }
    }
}

#[test]
fn kinds_about_the_same_columns_are_grouped() {
    use IncidentKind::*;
    assert!(same_columns(MissingAccess, UnpaidAccess));
    assert!(same_columns(PlanMismatch, MissingAccess));
    assert!(!same_columns(MissingAccess, EntitlementMismatch));
    assert!(!same_columns(TrialMismatch, PlanMismatch));
    assert!(same_columns(EntitlementMismatch, EntitlementMismatch));
}

#[test]
fn a_revocation_is_no_longer_wanted_once_the_customer_pays_or_enters_a_keep_state() {
    let m = mapping();
    let granted = row(Some("pro"), true, false, true);
    let (_, rc) = first_check(&m, vec![sub("canceled", "price_pro")], &granted);
    let plan_fix = created(&rc)
        .into_iter()
        .find(|r| r.changes[0].column == "plan")
        .unwrap()
        .clone();
    let now = |subs: Vec<SubFacts>| {
        let s = StripeCustomer {
            subscriptions: subs,
            active_entitlements: None,
        };
        reconcile::expected(&m, &s, &ProductFeatures::new())
    };
    // Still canceled: still wanted.
    assert!(still_wanted(
        &m,
        &plan_fix.changes,
        &now(vec![sub("canceled", "price_pro")])
    ));
    // Paid again, or past due (keep): not any more.
    assert!(!still_wanted(
        &m,
        &plan_fix.changes,
        &now(vec![sub("active", "price_pro")])
    ));
    assert!(!still_wanted(
        &m,
        &plan_fix.changes,
        &now(vec![sub("past_due", "price_pro")])
    ));
}
