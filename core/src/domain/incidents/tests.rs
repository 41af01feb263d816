use super::*;
use std::collections::BTreeSet;

fn access(plan: &str, premium: bool) -> Access {
    Access {
        plan: plan.into(),
        premium,
        trial: false,
        entitlements: BTreeSet::new(),
    }
}

fn drift(kind: IncidentKind, expected: &str, actual: &str) -> Drift {
    Drift {
        customer: "cus_1".into(),
        kind,
        expected: Some(access(expected, expected != "free")),
        actual: Some(access(actual, actual != "free")),
    }
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn ids() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("inc_{n}")
    }
}

fn opened(changes: Vec<Change>) -> Incident {
    match changes.as_slice() {
        [Change::Opened(i)] => i.clone(),
        other => panic!("expected one opening, got {other:?}"),
    }
}

#[test]
fn a_new_drift_opens_one_incident_with_its_severity() {
    let d = drift(IncidentKind::MissingAccess, "pro", "free");
    let i = opened(plan(&[], &[d], at(1), ids()));
    assert_eq!(
        (i.id.as_str(), i.status, i.severity.as_str(), i.opened_at),
        ("inc_1", IncidentStatus::Open, "high", at(1))
    );
    let d = drift(IncidentKind::PlanMismatch, "pro", "basic");
    assert_eq!(opened(plan(&[], &[d], at(1), ids())).severity, "medium");
}

#[test]
fn the_same_drift_again_changes_nothing_and_a_changed_drift_updates_in_place() {
    let d = drift(IncidentKind::PlanMismatch, "pro", "basic");
    let i = opened(plan(&[], std::slice::from_ref(&d), at(1), ids()));
    assert!(plan(std::slice::from_ref(&i), &[d], at(2), ids()).is_empty());
    let changed = drift(IncidentKind::PlanMismatch, "team", "basic");
    match plan(std::slice::from_ref(&i), &[changed], at(3), ids()).as_slice() {
        [Change::Updated { before, after }] => {
            assert_eq!(before, &i);
            assert_eq!((after.id.as_str(), after.updated_at), ("inc_1", at(3)));
            assert_eq!(
                after.expected.as_ref().map(|e| e.plan.as_str()),
                Some("team")
            );
            assert_eq!(after.opened_at, at(1));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_drift_that_is_gone_resolves_its_incident_with_a_reason() {
    let d = drift(IncidentKind::UnpaidAccess, "free", "pro");
    let i = opened(plan(&[], &[d], at(1), ids()));
    match plan(&[i], &[], at(5), ids()).as_slice() {
        [Change::Resolved { after, .. }] => {
            assert_eq!(after.status, IncidentStatus::Resolved);
            assert_eq!(after.resolved_at, Some(at(5)));
            assert_eq!(after.reason.as_deref(), Some(RESOLVED_REASON));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_ignored_drift_stays_ignored_while_unchanged_and_a_different_one_opens_anew() {
    let d = drift(IncidentKind::PlanMismatch, "pro", "basic");
    let i = opened(plan(&[], std::slice::from_ref(&d), at(1), ids()));
    let ignored = ignore(&i, "legacy contract", at(2)).unwrap();
    assert_eq!(ignored.status, IncidentStatus::Ignored);
    assert!(plan(
        std::slice::from_ref(&ignored),
        std::slice::from_ref(&d),
        at(3),
        ids()
    )
    .is_empty());
    let different = drift(IncidentKind::PlanMismatch, "team", "basic");
    let again = opened(plan(
        std::slice::from_ref(&ignored),
        &[different],
        at(4),
        ids(),
    ));
    assert_eq!(again.id, "inc_1");
    assert_ne!(again.fingerprint, ignored.fingerprint);
    // Another kind on the same customer is not covered by the ignore either.
    let other = drift(IncidentKind::TrialMismatch, "pro", "pro");
    assert_eq!(
        opened(plan(&[ignored], &[d, other], at(4), ids())).kind,
        IncidentKind::TrialMismatch
    );
}

#[test]
fn an_ignored_incident_closes_when_its_drift_is_gone_and_the_drift_returning_is_news() {
    let d = drift(IncidentKind::PlanMismatch, "pro", "basic");
    let i = opened(plan(&[], std::slice::from_ref(&d), at(1), ids()));
    let ignored = ignore(&i, "legacy contract", at(2)).unwrap();
    let gone = plan(std::slice::from_ref(&ignored), &[], at(3), ids());
    assert_eq!(gone.len(), 1);
    let Change::Resolved { before, after } = &gone[0] else {
        panic!("expected a resolve, got {gone:?}");
    };
    assert_eq!(before.status, IncidentStatus::Ignored);
    assert_eq!(after.status, IncidentStatus::Resolved);
    assert_eq!(after.resolved_at, Some(at(3)));
    // Once closed it no longer covers the drift: the same drift back opens a new incident.
    let back = opened(plan(std::slice::from_ref(after), &[d], at(4), ids()));
    assert_eq!(back.status, IncidentStatus::Open);
}

#[test]
fn only_open_incidents_can_be_ignored() {
    let d = drift(IncidentKind::PlanMismatch, "pro", "basic");
    let i = opened(plan(&[], &[d], at(1), ids()));
    let ignored = ignore(&i, "x", at(2)).unwrap();
    assert_eq!(ignore(&ignored, "y", at(3)), None);
}

#[test]
fn changes_come_in_kind_order_whatever_the_order_of_drifts() {
    let a = drift(IncidentKind::EntitlementMismatch, "pro", "pro");
    let b = drift(IncidentKind::MissingAccess, "pro", "free");
    let kinds = |ds: &[Drift]| -> Vec<IncidentKind> {
        plan(&[], ds, at(1), ids())
            .iter()
            .map(|c| c.after().kind)
            .collect()
    };
    assert_eq!(kinds(&[a.clone(), b.clone()]), kinds(&[b, a]));
}

#[test]
fn fingerprints_differ_exactly_when_the_drift_does() {
    let d = drift(IncidentKind::PlanMismatch, "pro", "basic");
    assert_eq!(fingerprint(&d), fingerprint(&d.clone()));
    assert_ne!(
        fingerprint(&d),
        fingerprint(&drift(IncidentKind::PlanMismatch, "pro", "free"))
    );
    assert_eq!(fingerprint(&d).len(), 64);
}
