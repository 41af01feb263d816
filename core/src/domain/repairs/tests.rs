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
    assert_eq!(r.incident_ids, vec![inc.after().id.clone()]);
}

#[test]
fn a_canceled_customer_still_premium_gets_one_revocation_of_the_plan_and_the_entitlement() {
    let m = mapping();
    let app = row(Some("pro"), true, false, true);
    let (changes, rc) = first_check(&m, vec![sub("canceled", "price_pro")], &app);
    let r = created(&rc);
    assert_eq!(r.len(), 1, "one repair for the row: {rc:?}");
    let r = r[0];
    assert_eq!(r.effect, Effect::Revocation);
    assert_eq!(
        r.changes
            .iter()
            .map(|c| (c.column.as_str(), &c.after))
            .collect::<Vec<_>>(),
        vec![
            ("plan", &json!("free")),
            ("is_premium", &json!(false)),
            // The entitlement the canceled plan gave is taken away in the same repair.
            ("feature_sso", &json!(false)),
        ]
    );
    assert_eq!(r.incident_ids.len(), 2);
    for c in &changes {
        assert_eq!(c.after().repair_id.as_deref(), Some(r.id.as_str()));
    }
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
    assert_eq!(suggest(&ctx, &[&i], "rep_1".into()), None);
    ctx.in_keep = false;
    assert_eq!(
        suggest(&ctx, &[&i], "rep_1".into()).map(|r| r.effect),
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

/// The customer's live incidents and repairs after `changes` committed.
fn committed(changes: &[Change], rc: &[RepairChange]) -> (Vec<Incident>, BTreeMap<String, Repair>) {
    let live = changes.iter().map(|c| c.after().clone()).collect();
    let latest = rc
        .iter()
        .map(|c| (c.after().id.clone(), c.after().clone()))
        .collect();
    (live, latest)
}

fn ctx_at<'a>(m: &'a Mapping, app: &'a AppValues, ms: i64) -> Context<'a> {
    Context {
        mapping: m,
        row: Some(app),
        in_keep: false,
        now: at(ms),
    }
}

#[test]
fn a_customer_drifting_in_plan_and_an_entitlement_gets_one_repair_naming_both_incidents() {
    let m = mapping();
    // Paying for pro (which carries SSO), the row says free without SSO.
    let app = row(None, false, false, false);
    let (changes, rc) = first_check(&m, vec![sub("active", "price_pro")], &app);
    assert_eq!(changes.len(), 2);
    let r = match rc.as_slice() {
        [RepairChange::Created(r)] => r,
        other => panic!("one repair for the row: {other:?}"),
    };
    assert_eq!(r.effect, Effect::Grant);
    assert_eq!(
        r.changes
            .iter()
            .map(|c| (c.column.as_str(), &c.before, &c.after))
            .collect::<Vec<_>>(),
        vec![
            ("plan", &Value::Null, &json!("pro")),
            ("is_premium", &json!(false), &json!(true)),
            ("feature_sso", &json!(false), &json!(true)),
        ]
    );
    let id_of = |k: IncidentKind| {
        changes
            .iter()
            .find(|c| c.after().kind == k)
            .map(|c| c.after().id.clone())
            .unwrap()
    };
    let mut both = vec![
        id_of(IncidentKind::MissingAccess),
        id_of(IncidentKind::EntitlementMismatch),
    ];
    // `incident_id` is the most severe; `incident_ids` every incident, sorted.
    assert_eq!(r.incident_id, both[0]);
    both.sort();
    assert_eq!(r.incident_ids, both);
    for c in &changes {
        assert_eq!(c.after().repair_id.as_deref(), Some(r.id.as_str()));
    }
    // One approval puts the row in parity: applying it leaves no drift.
    let mut fixed = app.clone();
    for c in &r.changes {
        fixed.insert(c.column.clone(), c.after.clone());
    }
    assert!(drifts(&m, vec![sub("active", "price_pro")], &fixed)
        .0
        .is_empty());
    // The statement sets every column at once.
    let plan = ExecPlan::new(r, &m).unwrap();
    let preview = plan.preview();
    assert!(preview["sql"].as_str().unwrap().starts_with(
        "UPDATE \"public\".\"accounts\" SET \"plan\" = $1::text, \"is_premium\" = $2::boolean, \
         \"feature_sso\" = $3::boolean WHERE ctid = $4::text::tid AND \"stripe_customer_id\" = $5 \
         RETURNING"
    ));
    assert_eq!(
        preview["params"],
        json!([
            "pro",
            true,
            true,
            crate::domain::repair_plan::CTID_PARAM,
            "cus_1"
        ])
    );
}

#[test]
fn a_repair_that_grants_the_plan_and_takes_an_entitlement_is_a_change_not_a_grant() {
    let m = mapping();
    // Upgraded basic → team (a grant), and team carries no SSO (a revocation).
    let app = row(Some("basic"), true, false, true);
    let (_, rc) = first_check(&m, vec![sub("active", "prod_team")], &app);
    let r = created(&rc);
    assert_eq!(r.len(), 1, "{rc:?}");
    assert_eq!(r[0].effect, Effect::Change);
    assert_eq!(r[0].incident_ids.len(), 2);
    // In a `keep` state the part that takes away is left out, and the incident it was for is
    // not named: what is left is a grant.
    let (d, _) = drifts(&m, vec![sub("active", "prod_team")], &app);
    let mut changes = incidents::plan(&[], &d, at(1), ids("inc_"));
    let ctx = Context {
        in_keep: true,
        ..ctx_at(&m, &app, 1)
    };
    let (rc, _) = follow(&ctx, &[], &mut changes, &BTreeMap::new(), ids("rep_"));
    let r = created(&rc);
    assert_eq!(r.len(), 1, "{rc:?}");
    assert_eq!(r[0].effect, Effect::Grant);
    assert_eq!(r[0].changes.len(), 1);
    assert_eq!(r[0].changes[0].column, "plan");
    let sso = changes
        .iter()
        .find(|c| c.after().kind == IncidentKind::EntitlementMismatch)
        .unwrap();
    assert!(!r[0].names(&sso.after().id));
    assert_eq!(sso.after().repair_id, None);
}

#[test]
fn the_pending_repair_follows_the_customer_when_a_drift_appears_or_resolves_by_itself() {
    let m = mapping();
    // Locked out of pro, SSO already on: one repair of plan and premium.
    let locked_out = row(None, false, false, true);
    let pro = || vec![sub("active", "price_pro")];
    let (first, rc) = first_check(&m, pro(), &locked_out);
    let (live, latest) = committed(&first, &rc);
    let one = created(&rc)[0].clone();
    assert_eq!(one.changes.len(), 2);

    // SSO switched off by hand: a second drift. The pending repair is withdrawn and one
    // repair of all three columns, naming both incidents, replaces it.
    let no_sso = row(None, false, false, false);
    let (d, _) = drifts(&m, pro(), &no_sso);
    let mut changes = incidents::plan(&live, &d, at(2), ids("inc_new_"));
    let (rc, links) = follow(
        &ctx_at(&m, &no_sso, 2),
        &live,
        &mut changes,
        &latest,
        ids("rep_new_"),
    );
    assert!(links.is_empty(), "both incidents changed: {links:?}");
    let both = match rc.as_slice() {
        [RepairChange::Withdrawn { before, after }, RepairChange::Created(new)] => {
            assert_eq!(before.id, one.id);
            assert_eq!(after.reason.as_deref(), Some(WITHDRAWN_CHANGED));
            new.as_ref().clone()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(both.changes.len(), 3);
    assert_eq!(both.incident_ids.len(), 2);
    for c in &changes {
        assert_eq!(c.after().repair_id.as_deref(), Some(both.id.as_str()));
    }
    let mut all = live.clone();
    all.retain(|i| !changes.iter().any(|c| c.after().id == i.id));
    all.extend(changes.iter().map(|c| c.after().clone()));
    let latest: BTreeMap<String, Repair> = [(both.id.clone(), both.clone())].into();

    // Checked again, nothing moved: the pending repair stays, nothing is written.
    let (d, _) = drifts(&m, pro(), &no_sso);
    let mut same = incidents::plan(&all, &d, at(3), ids("x_"));
    assert!(same.is_empty());
    let (rc, links) = follow(&ctx_at(&m, &no_sso, 3), &all, &mut same, &latest, ids("y_"));
    assert!(rc.is_empty() && links.is_empty(), "{rc:?} {links:?}");

    // SSO switched back on by hand: the entitlement incident resolves by itself. The repair
    // no longer names it, and its columns are read again (no stale `before`).
    let (d, _) = drifts(&m, pro(), &locked_out);
    let mut changes = incidents::plan(&all, &d, at(4), ids("inc_z_"));
    let (rc, _) = follow(
        &ctx_at(&m, &locked_out, 4),
        &all,
        &mut changes,
        &latest,
        ids("rep_z_"),
    );
    let plan_only = match rc.as_slice() {
        [RepairChange::Withdrawn { before, after }, RepairChange::Created(new)] => {
            assert_eq!(before.id, both.id);
            assert_eq!(after.reason.as_deref(), Some(WITHDRAWN_CHANGED));
            new.as_ref().clone()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        plan_only
            .changes
            .iter()
            .map(|c| c.column.as_str())
            .collect::<Vec<_>>(),
        ["plan", "is_premium"]
    );
    let open: Vec<&Incident> = changes
        .iter()
        .map(Change::after)
        .filter(|i| i.status == IncidentStatus::Open)
        .collect();
    assert_eq!(plan_only.incident_ids, vec![open[0].id.clone()]);

    // Fixed by hand altogether: every incident resolves, the repair is withdrawn as such.
    let fixed = row(Some("pro"), true, false, true);
    let (d, _) = drifts(&m, pro(), &fixed);
    let mut changes = incidents::plan(&all, &d, at(5), ids("inc_w_"));
    let (rc, _) = follow(
        &ctx_at(&m, &fixed, 5),
        &all,
        &mut changes,
        &latest,
        ids("w_"),
    );
    match rc.as_slice() {
        [RepairChange::Withdrawn { before, after }] => {
            assert_eq!(before.id, both.id);
            assert_eq!(after.reason.as_deref(), Some(WITHDRAWN_RESOLVED));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_pending_repair_stays_when_its_incidents_change_but_its_fix_does_not() {
    let m = mapping();
    let app = row(None, false, false, false);
    let (first, rc) = first_check(&m, vec![sub("active", "price_pro")], &app);
    let (live, latest) = committed(&first, &rc);
    let pending = created(&rc)[0].clone();
    // Both incidents change (say, a fingerprint recomputed) while the fix stays the same.
    let mut changes: Vec<Change> = live
        .iter()
        .map(|i| {
            let mut after = i.clone();
            after.fingerprint = "recomputed".into();
            after.updated_at = at(2);
            Change::Updated {
                before: i.clone(),
                after,
            }
        })
        .collect();
    let mut again = changes.clone();
    let (rc, links) = follow(
        &ctx_at(&m, &app, 2),
        &live,
        &mut changes,
        &latest,
        ids("n_"),
    );
    assert!(rc.is_empty() && links.is_empty(), "{rc:?}");
    for c in &changes {
        assert_eq!(c.after().repair_id.as_deref(), Some(pending.id.as_str()));
    }
    // The mapping moved to another table meanwhile: the same columns are a different fix.
    let mut j = m.to_json();
    j["table"] = json!("public.users");
    let moved = Mapping::from_json(&j).unwrap();
    let (rc, _) = follow(
        &ctx_at(&moved, &app, 2),
        &live,
        &mut again,
        &latest,
        ids("n_"),
    );
    assert!(
        matches!(rc.as_slice(), [RepairChange::Withdrawn { .. }, RepairChange::Created(r)]
            if r.table == "public.users"),
        "{rc:?}"
    );
}

#[test]
fn while_the_customers_repair_runs_no_second_repair_is_made() {
    let m = mapping();
    let locked_out = row(None, false, false, true);
    let (first, rc) = first_check(&m, vec![sub("active", "price_pro")], &locked_out);
    let (live, mut latest) = committed(&first, &rc);
    let running = created(&rc)[0].clone();
    if let Some(r) = latest.get_mut(&running.id) {
        r.status = RepairStatus::Executing;
    }
    // Upgraded to team while the pro grant runs (team carries no SSO: a new drift too).
    let (d, _) = drifts(&m, vec![sub("active", "prod_team")], &locked_out);
    let mut changes = incidents::plan(&live, &d, at(2), ids("inc_new_"));
    assert!(changes.iter().any(|c| matches!(c, Change::Opened(_))));
    let (rc, links) = follow(
        &ctx_at(&m, &locked_out, 2),
        &live,
        &mut changes,
        &latest,
        ids("rep_new_"),
    );
    assert!(rc.is_empty() && links.is_empty(), "{rc:?}");
    let updated = changes
        .iter()
        .find(|c| c.after().id == running.incident_id)
        .unwrap();
    assert_eq!(
        updated.after().repair_id.as_deref(),
        Some(running.id.as_str())
    );
    let opened = changes
        .iter()
        .find(|c| matches!(c, Change::Opened(_)))
        .unwrap();
    assert_eq!(opened.after().repair_id, None);
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
    let ctx = ctx_at(&m, &app, 2);
    // No repair yet (an incident from before repairs existed): one is suggested and linked.
    let mut changes = incidents::plan(&live, &d, at(2), ids("x_"));
    assert!(changes.is_empty());
    let (rc, links) = follow(&ctx, &live, &mut changes, &BTreeMap::new(), ids("rep_"));
    assert_eq!(created(&rc).len(), 1);
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].1.repair_id.as_deref(), Some("rep_1"));

    // Its repair went stale or failed: suggested again. Rejected by a person, or executed but
    // not verified: not again. Pending (the same fix) or running: nothing more.
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
        let mut old = suggest(&ctx, &[&linked[0]], "rep_old".into()).unwrap();
        old.status = status;
        let latest = [(old.id.clone(), old)].into();
        let (rc, links) = follow(&ctx, &linked, &mut [], &latest, ids("rep_"));
        assert_eq!(!rc.is_empty(), again, "{status:?}");
        assert_eq!(!links.is_empty(), again, "{status:?}");
    }
}

#[test]
fn ignoring_one_incident_withdraws_the_customers_repair_and_the_others_get_one_again() {
    let m = mapping();
    let app = row(None, false, false, false);
    let pro = || vec![sub("active", "price_pro")];
    let (first, rc) = first_check(&m, pro(), &app);
    let (mut live, mut latest) = committed(&first, &rc);
    let both = created(&rc)[0].clone();
    // A person ignores the entitlement drift (the handler withdraws the pending repair).
    let sso = live
        .iter_mut()
        .find(|i| i.kind == IncidentKind::EntitlementMismatch)
        .unwrap();
    *sso = incidents::ignore(sso, "SSO is sold apart", at(2)).unwrap();
    if let RepairChange::Withdrawn { after, .. } = withdrawn(&both, WITHDRAWN_IGNORED, at(2)) {
        assert!(after.is_withdrawn());
        latest.insert(after.id.clone(), *after);
    }
    // The next check: the plan drift still wants its fix, alone.
    let (d, _) = drifts(&m, pro(), &app);
    let mut changes = incidents::plan(&live, &d, at(3), ids("x_"));
    assert!(changes.is_empty());
    let (rc, links) = follow(
        &ctx_at(&m, &app, 3),
        &live,
        &mut changes,
        &latest,
        ids("n_"),
    );
    let again = created(&rc);
    assert_eq!(again.len(), 1, "{rc:?}");
    assert_eq!(again[0].changes.len(), 2);
    assert_eq!(again[0].incident_ids, vec![both.incident_id.clone()]);
    assert_eq!(links.len(), 1);
    // Rejected by a person instead: nothing again.
    let mut by_person = both.moved(RepairStatus::Rejected, at(2));
    by_person.reason = Some("not now".into());
    assert!(!by_person.is_withdrawn());
    latest.insert(by_person.id.clone(), by_person);
    let (rc, _) = follow(&ctx_at(&m, &app, 3), &live, &mut [], &latest, ids("n_"));
    assert!(rc.is_empty(), "{rc:?}");
}

#[test]
fn repairs_of_one_incident_each_from_before_are_replaced_by_one_for_the_row() {
    let m = mapping();
    let app = row(None, false, false, false);
    let (d, _) = drifts(&m, vec![sub("active", "price_pro")], &app);
    let mut live: Vec<Incident> = incidents::plan(&[], &d, at(1), ids("inc_"))
        .into_iter()
        .map(|c| c.after().clone())
        .collect();
    let ctx = ctx_at(&m, &app, 2);
    // Stored before migration 0021: a pending repair per incident.
    let mut latest = BTreeMap::new();
    for (n, i) in live.iter_mut().enumerate() {
        let old = suggest(&ctx, &[&*i], format!("rep_old{n}")).unwrap();
        i.repair_id = Some(old.id.clone());
        latest.insert(old.id.clone(), old);
    }
    let (rc, links) = follow(&ctx, &live, &mut [], &latest, ids("rep_"));
    assert_eq!(rc.len(), 3, "{rc:?}");
    assert!(rc[..2]
        .iter()
        .all(|c| matches!(c, RepairChange::Withdrawn { after, .. }
        if after.reason.as_deref() == Some(WITHDRAWN_CHANGED))));
    let one = created(&rc)[0];
    assert_eq!(one.incident_ids.len(), 2);
    assert_eq!(one.changes.len(), 3);
    assert_eq!(links.len(), 2);
    assert!(links
        .iter()
        .all(|(_, after)| after.repair_id.as_deref() == Some(one.id.as_str())));
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
    // The preview is the plan's own statement, the one execution sends.
    assert_eq!(preview["sql"], json!(plan.update_sql()));
    assert_eq!(preview["lock"], json!(plan.lock_sql()));
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
    /// A first check suggests at most one repair for the row; applying it fixes every drift it
    /// names and leaves the customer in parity, and a customer in a `keep` state never gets a
    /// repair that takes anything away.
    #[test]
    fn applied_repairs_fix_their_drifts_and_keep_never_loses_access(
        app in arb_row(), subs in arb_subs()
    ) {
        let m = mapping();
        let (changes, rc) = first_check(&m, subs.clone(), &app);
        let (_, in_keep) = drifts(&m, subs.clone(), &app);
        let mut fixed = app.clone();
        let mut kinds = BTreeSet::new();
        prop_assert!(created(&rc).len() <= 1, "one repair for the row: {:?}", rc);
        for r in created(&rc) {
            prop_assert!(ExecPlan::new(r, &m).is_ok());
            if in_keep {
                prop_assert_eq!(r.effect, Effect::Grant);
            }
            for c in &r.changes {
                prop_assert_eq!(fixed.get(&c.column).unwrap_or(&Value::Null), &c.before);
                fixed.insert(c.column.clone(), c.after.clone());
            }
            for id in &r.incident_ids {
                let inc = changes.iter().find(|c| &c.after().id == id).unwrap();
                prop_assert_eq!(inc.after().repair_id.as_ref(), Some(&r.id));
                kinds.insert(inc.after().kind);
            }
            prop_assert!(r.names(&r.incident_id));
        }
        let (after, _) = drifts(&m, subs, &fixed);
        for d in &after {
            prop_assert!(!kinds.contains(&d.kind), "{:?} survives its repair", d.kind);
        }
        // One approval puts the customer in parity: nothing a row can fix is left.
        prop_assert!(
            after.iter().all(|d| d.kind == IncidentKind::UnknownCustomer),
            "{:?} left after the repair", after
        );
    }
}

#[test]
fn a_revocation_is_no_longer_wanted_once_the_customer_pays_or_enters_a_keep_state() {
    let m = mapping();
    let granted = row(Some("pro"), true, false, true);
    let (_, rc) = first_check(&m, vec![sub("canceled", "price_pro")], &granted);
    let plan_fix = created(&rc)[0].clone();
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

#[test]
fn a_persons_reason_cannot_pass_for_a_withdrawal() {
    for forged in [
        WITHDRAWN_RESOLVED,
        WITHDRAWN_CHANGED,
        WITHDRAWN_NO_FIX,
        "Withdrawn: mine",
        "  withdrawn:x",
    ] {
        assert!(person_reason(forged).is_err(), "{forged}");
    }
    assert_eq!(person_reason("not now").ok(), Some("not now"));
    assert_eq!(
        person_reason("the customer was withdrawn: no").ok(),
        Some("the customer was withdrawn: no")
    );
}
