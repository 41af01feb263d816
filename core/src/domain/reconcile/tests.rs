use super::*;
use crate::domain::mapping::{Mapping, MappingInput};
use proptest::prelude::*;
use serde_json::json;

fn mapping() -> Mapping {
    let input: MappingInput =
        serde_json::from_value(crate::domain::mapping::tests_sample()).unwrap();
    input.validate().unwrap()
}

fn sub(status: &str, prices: &[&str]) -> SubFacts {
    SubFacts {
        id: format!("sub_{status}_{}", prices.join("_")),
        status: status.into(),
        items: prices
            .iter()
            .map(|p| ItemFacts {
                price: Some((*p).into()),
                product: Some(format!("prod_of_{p}")),
            })
            .collect(),
    }
}

fn customer(subs: Vec<SubFacts>) -> StripeCustomer {
    StripeCustomer {
        subscriptions: subs,
        active_entitlements: None,
    }
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

fn kinds(
    m: &Mapping,
    stripe: Option<&StripeCustomer>,
    app: Option<&AppValues>,
) -> Vec<&'static str> {
    let e = stripe.map(|s| expected(m, s, &ProductFeatures::new()));
    let a = app.map(|r| actual(m, r));
    diff(m, "cus_1", e.as_ref(), a.as_ref())
        .iter()
        .map(|d| d.kind.as_str())
        .collect()
}

#[test]
fn a_paying_customer_in_parity_yields_nothing() {
    let m = mapping();
    let s = customer(vec![sub("active", &["price_pro"])]);
    assert!(kinds(&m, Some(&s), Some(&row(Some("pro"), true, false, true))).is_empty());
}

#[test]
fn each_kind_of_drift_is_found() {
    let m = mapping();
    let pro = customer(vec![sub("active", &["price_pro"])]);
    let canceled = customer(vec![sub("canceled", &["price_pro"])]);
    let trialing = customer(vec![sub("trialing", &["price_pro"])]);
    assert_eq!(
        kinds(&m, Some(&pro), Some(&row(Some("free"), false, false, true))),
        ["missing_access"]
    );
    assert_eq!(
        kinds(
            &m,
            Some(&canceled),
            Some(&row(Some("pro"), true, false, false))
        ),
        ["unpaid_access"]
    );
    assert_eq!(
        kinds(&m, Some(&pro), Some(&row(Some("basic"), true, false, true))),
        ["plan_mismatch"]
    );
    assert_eq!(
        kinds(
            &m,
            Some(&trialing),
            Some(&row(Some("pro"), true, false, true))
        ),
        ["trial_mismatch"]
    );
    assert_eq!(
        kinds(&m, Some(&pro), Some(&row(Some("pro"), true, false, false))),
        ["entitlement_mismatch"]
    );
    // The app names a customer Stripe does not have; Stripe bills one the app does not have.
    assert_eq!(
        kinds(&m, None, Some(&row(Some("free"), false, false, false))),
        ["unknown_customer"]
    );
    assert_eq!(kinds(&m, Some(&pro), None), ["unknown_customer"]);
    // A Stripe customer with nothing paid and no app row is nobody's business.
    assert!(kinds(&m, Some(&canceled), None).is_empty());
}

#[test]
fn the_highest_rank_wins_across_subscriptions_and_products_map_too() {
    let m = mapping();
    let mut team = sub("active", &["price_unknown_team"]);
    team.items[0].product = Some("prod_team".into());
    let s = customer(vec![sub("active", &["price_basic"]), team]);
    let e = expected(&m, &s, &ProductFeatures::new());
    assert_eq!(e.access.plan, "team");
    assert!(e.access.premium && !e.hold);
}

#[test]
fn past_due_keeps_access_and_an_unmapped_price_never_revokes() {
    let m = mapping();
    let past_due = customer(vec![sub("past_due", &["price_pro"])]);
    assert!(kinds(
        &m,
        Some(&past_due),
        Some(&row(Some("pro"), true, false, true))
    )
    .is_empty());
    assert!(kinds(
        &m,
        Some(&past_due),
        Some(&row(Some("free"), false, false, false))
    )
    .is_empty());
    let unmapped = customer(vec![sub("active", &["price_mystery"])]);
    let e = expected(&m, &unmapped, &ProductFeatures::new());
    assert!(e.hold);
    assert_eq!(e.unmapped.iter().collect::<Vec<_>>(), ["price_mystery"]);
    assert!(kinds(
        &m,
        Some(&unmapped),
        Some(&row(Some("pro"), true, false, true))
    )
    .is_empty());
}

#[test]
fn product_features_and_active_entitlements_add_mapped_entitlements_only() {
    let m = mapping();
    let mut s = customer(vec![sub("active", &["price_basic"])]);
    let features: ProductFeatures = [(
        "prod_of_price_basic".to_owned(),
        ["audit-log".to_owned(), "not-mapped".to_owned()].into(),
    )]
    .into();
    let e = expected(&m, &s, &features);
    assert_eq!(e.access.entitlements, ["audit-log".to_owned()].into());
    s.active_entitlements = Some(["sso".to_owned()].into());
    let e = expected(&m, &s, &ProductFeatures::new());
    assert_eq!(e.access.entitlements, ["sso".to_owned()].into());
    // Entitlements of a customer with nothing paid are not expected.
    s.subscriptions[0].status = "canceled".into();
    assert!(expected(&m, &s, &ProductFeatures::new())
        .access
        .entitlements
        .is_empty());
}

#[test]
fn a_null_plan_is_the_free_plan_and_null_flags_are_false() {
    let m = mapping();
    let mut r = row(None, false, false, false);
    r.insert("is_premium".into(), Value::Null);
    let a = actual(&m, &r);
    assert_eq!(
        (a.plan.as_str(), a.premium, a.trial),
        ("free", false, false)
    );
}

const STATUSES: [&str; 9] = [
    "active",
    "trialing",
    "past_due",
    "incomplete",
    "unpaid",
    "paused",
    "canceled",
    "incomplete_expired",
    "some_new_status",
];
const PRICES: [&str; 6] = [
    "price_pro",
    "price_plus",
    "price_basic",
    "prod_team",
    "price_mystery",
    "price_x",
];
const PLANS: [Option<&str>; 7] = [
    None,
    Some("free"),
    Some("basic"),
    Some("pro"),
    Some("plus"),
    Some("team"),
    Some("legacy"),
];

fn arb_sub() -> impl Strategy<Value = SubFacts> {
    (
        0..STATUSES.len(),
        prop::collection::vec((0..PRICES.len(), any::<bool>()), 1..3),
        0u32..1000,
    )
        .prop_map(|(s, items, n)| SubFacts {
            id: format!("sub_{n}"),
            status: STATUSES[s].into(),
            items: items
                .into_iter()
                .map(|(p, as_product)| ItemFacts {
                    price: Some(if as_product {
                        "price_other".into()
                    } else {
                        PRICES[p].into()
                    }),
                    product: Some(PRICES[p].into()),
                })
                .collect(),
        })
}

fn arb_customer() -> impl Strategy<Value = StripeCustomer> {
    (
        prop::collection::vec(arb_sub(), 0..4),
        prop::option::of(prop::collection::btree_set(
            prop::sample::select(vec![
                "sso".to_owned(),
                "audit-log".to_owned(),
                "x".to_owned(),
            ]),
            0..3,
        )),
    )
        .prop_map(|(subscriptions, active_entitlements)| StripeCustomer {
            subscriptions,
            active_entitlements,
        })
}

fn arb_row() -> impl Strategy<Value = AppValues> {
    (
        0..PLANS.len(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(p, premium, trial, sso, audit)| {
            let mut r = row(PLANS[p], premium, trial, sso);
            r.insert("feature_audit".into(), json!(audit));
            r
        })
}

fn is_keep(m: &Mapping, s: &StripeCustomer) -> bool {
    s.subscriptions
        .iter()
        .any(|s| m.grace.rule(&s.status) == crate::domain::mapping::GraceRule::Keep)
}

/// The app row that grants exactly `a`.
fn row_for(a: &Access) -> AppValues {
    let mut r = row(
        Some(&a.plan),
        a.premium,
        a.trial,
        a.entitlements.contains("sso"),
    );
    r.insert(
        "feature_audit".into(),
        json!(a.entitlements.contains("audit-log")),
    );
    r
}

proptest! {
    #[test]
    fn a_customer_in_a_keep_state_never_yields_a_revocation(s in arb_customer(), r in arb_row()) {
        let m = mapping();
        prop_assume!(is_keep(&m, &s));
        let e = expected(&m, &s, &ProductFeatures::new());
        prop_assert!(e.hold);
        let a = actual(&m, &r);
        for d in diff(&m, "cus_1", Some(&e), Some(&a)) {
            prop_assert!(!is_revocation(&m, &d), "{:?}", d);
            // The whole target, not only the field the kind is about, keeps what the app has.
            let t = d.expected.clone().unwrap();
            prop_assert!(t.premium >= a.premium && t.trial >= a.trial, "{:?}", d);
            prop_assert!(t.entitlements.is_superset(&a.entitlements), "{:?}", d);
            prop_assert!(t.plan == a.plan || m.rank_of(&t.plan) > m.rank_of(&a.plan), "{:?}", d);
        }
    }

    #[test]
    fn a_state_already_in_parity_yields_nothing(s in arb_customer()) {
        let m = mapping();
        let e = expected(&m, &s, &ProductFeatures::new());
        let r = row_for(&e.access);
        prop_assert_eq!(diff(&m, "cus_1", Some(&e), Some(&actual(&m, &r))), vec![]);
    }

    #[test]
    fn the_output_does_not_depend_on_input_order(s in arb_customer(), r in arb_row(), seed in any::<u64>()) {
        let m = mapping();
        let mut shuffled = s.clone();
        // A deterministic shuffle from the seed: reverse, rotate, and reverse every item list.
        shuffled.subscriptions.reverse();
        let n = shuffled.subscriptions.len();
        if n > 0 {
            shuffled.subscriptions.rotate_left((seed as usize) % n);
        }
        for sub in &mut shuffled.subscriptions {
            sub.items.reverse();
        }
        let a = actual(&m, &r);
        let one = diff(&m, "cus_1", Some(&expected(&m, &s, &ProductFeatures::new())), Some(&a));
        let two = diff(&m, "cus_1", Some(&expected(&m, &shuffled, &ProductFeatures::new())), Some(&a));
        prop_assert_eq!(one, two);
    }

    #[test]
    fn the_expected_side_never_depends_on_the_app_row(s in arb_customer(), r1 in arb_row(), r2 in arb_row()) {
        let m = mapping();
        let e = expected(&m, &s, &ProductFeatures::new());
        for r in [r1, r2] {
            // (Under hold the target also keeps what the app grants; `expected` itself still
            // never read the row, which its signature guarantees.)
            if e.hold { continue; }
            for d in diff(&m, "cus_1", Some(&e), Some(&actual(&m, &r))) {
                prop_assert_eq!(d.expected.as_ref(), Some(&e.access));
            }
        }
    }

    #[test]
    fn drifts_come_in_kind_order_once_each(s in arb_customer(), r in prop::option::of(arb_row())) {
        let m = mapping();
        let e = expected(&m, &s, &ProductFeatures::new());
        let a = r.map(|r| actual(&m, &r));
        let ds = diff(&m, "cus_1", Some(&e), a.as_ref());
        let ks: Vec<_> = ds.iter().map(|d| d.kind).collect();
        let mut sorted = ks.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(ks, sorted);
    }
}
