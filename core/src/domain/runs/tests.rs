use super::*;
use crate::domain::mapping::MappingInput;
use crate::domain::reconcile::{IncidentKind, ItemFacts, SubFacts};
use proptest::prelude::*;
use serde_json::json;

fn mapping() -> Mapping {
    let input: MappingInput =
        serde_json::from_value(crate::domain::mapping::tests_sample()).unwrap();
    input.validate().unwrap()
}

fn paying(price: &str) -> StripeCustomer {
    StripeCustomer {
        subscriptions: vec![SubFacts {
            id: format!("sub_{price}"),
            status: "active".into(),
            items: vec![ItemFacts {
                price: Some(price.into()),
                product: None,
            }],
        }],
        active_entitlements: None,
    }
}

fn row(plan: &str, premium: bool) -> AppValues {
    [
        ("plan", json!(plan)),
        ("is_premium", json!(premium)),
        ("on_trial", json!(false)),
        ("feature_sso", json!(plan == "pro")),
        ("feature_audit", json!(false)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn all() -> Range {
    Range {
        after: String::new(),
        upto: None,
    }
}

fn kinds(d: &BTreeMap<String, Decided>, c: &str) -> Vec<IncidentKind> {
    d[c].drifts.iter().map(|d| d.kind).collect()
}

#[test]
fn a_range_is_open_below_and_closed_above() {
    let r = Range {
        after: "cus_b".into(),
        upto: Some("cus_d".into()),
    };
    assert!(!r.contains("cus_b"));
    assert!(r.contains("cus_c"));
    assert!(r.contains("cus_d"));
    assert!(!r.contains("cus_e"));
    assert!(all().contains("cus_zzz"));
}

#[test]
fn a_step_stops_at_the_nearer_full_batch_and_runs_to_the_end_otherwise() {
    let r = step_range("a", Some("m"), true, Some("k"), true);
    assert_eq!(r.upto.as_deref(), Some("k"));
    let r = step_range("a", Some("m"), true, Some("z"), false);
    assert_eq!(r.upto.as_deref(), Some("m"));
    let r = step_range("a", Some("m"), false, Some("k"), false);
    assert_eq!(r.upto, None);
    let r = step_range("a", None, false, None, false);
    assert_eq!(
        r,
        Range {
            after: "a".into(),
            upto: None
        }
    );
}

#[test]
fn stripe_only_payers_app_rows_stripe_lacks_and_leftover_incidents_are_all_decided() {
    let m = mapping();
    let stripe: BTreeMap<_, _> = [
        ("cus_parity".to_owned(), paying("price_pro")),
        ("cus_stripe_only".to_owned(), paying("price_pro")),
        ("cus_free_only".to_owned(), StripeCustomer::default()),
    ]
    .into();
    let app = vec![
        ("cus_parity".to_owned(), row("pro", true)),
        ("cus_ghost".to_owned(), row("pro", true)),
    ];
    let incidents: BTreeSet<String> = ["cus_gone".to_owned()].into();
    let (d, dup) = decide(
        &m,
        &all(),
        &app,
        &stripe,
        &ProductFeatures::new(),
        &incidents,
    );
    assert!(dup.is_empty());
    assert!(kinds(&d, "cus_parity").is_empty());
    assert_eq!(
        kinds(&d, "cus_stripe_only"),
        [IncidentKind::UnknownCustomer]
    );
    assert_eq!(kinds(&d, "cus_ghost"), [IncidentKind::UnknownCustomer]);
    assert!(kinds(&d, "cus_free_only").is_empty());
    // Neither side knows it any more: decided with no drift, so its incidents resolve.
    assert!(kinds(&d, "cus_gone").is_empty());
    assert_eq!(d["cus_stripe_only"].app, None);
    assert_eq!(d["cus_ghost"].stripe, None);
}

#[test]
fn keys_outside_the_range_are_left_for_their_own_step_and_duplicated_keys_are_not_decided() {
    let m = mapping();
    let r = Range {
        after: "cus_a".into(),
        upto: Some("cus_m".into()),
    };
    let app = vec![
        ("cus_a".to_owned(), row("pro", true)),
        ("cus_b".to_owned(), row("pro", true)),
        ("cus_b".to_owned(), row("free", false)),
        ("cus_z".to_owned(), row("pro", true)),
    ];
    let stripe: BTreeMap<_, _> = [
        ("cus_b".to_owned(), paying("price_pro")),
        ("cus_y".to_owned(), paying("price_pro")),
    ]
    .into();
    let (d, dup) = decide(
        &m,
        &r,
        &app,
        &stripe,
        &ProductFeatures::new(),
        &BTreeSet::new(),
    );
    // cus_a is outside (a, m]; cus_y and cus_z are past it; cus_b has two rows: not decided.
    assert!(d.is_empty());
    assert_eq!(dup, ["cus_b"]);
    let single = vec![("cus_b".to_owned(), row("pro", true))];
    let none = BTreeSet::new();
    let (d, dup) = decide(&m, &r, &single, &stripe, &ProductFeatures::new(), &none);
    assert_eq!(d.keys().collect::<Vec<_>>(), ["cus_b"]);
    assert!(dup.is_empty());
}

fn key() -> impl Strategy<Value = String> {
    (0u8..40).prop_map(|n| format!("cus_{n:02}"))
}

proptest! {
    /// Splitting the key space into consecutive ranges (as steps do) decides every customer
    /// exactly once, the same way as deciding it whole.
    #[test]
    fn any_split_into_ranges_decides_like_the_whole(
        app_keys in prop::collection::btree_set(key(), 0..20),
        stripe_keys in prop::collection::btree_set(key(), 0..20),
        incident_keys in prop::collection::btree_set(key(), 0..6),
        cuts in prop::collection::btree_set(key(), 0..6),
    ) {
        let m = mapping();
        let app: Vec<_> = app_keys.iter().map(|k| (k.clone(), row("pro", true))).collect();
        let stripe: BTreeMap<_, _> =
            stripe_keys.iter().map(|k| (k.clone(), paying("price_basic"))).collect();
        let f = ProductFeatures::new();
        let (whole, _) = decide(&m, &all(), &app, &stripe, &f, &incident_keys);
        let mut pieces = BTreeMap::new();
        let mut after = String::new();
        let bounds: Vec<Option<String>> =
            cuts.iter().cloned().map(Some).chain(std::iter::once(None)).collect();
        for upto in bounds {
            let r = Range { after: after.clone(), upto: upto.clone() };
            let (part, _) = decide(&m, &r, &app, &stripe, &f, &incident_keys);
            for (k, v) in part {
                prop_assert!(pieces.insert(k, v).is_none(), "decided twice");
            }
            if let Some(u) = upto { after = u; }
        }
        prop_assert_eq!(pieces, whole);
    }
}

/// A scripted source: each listing is a chain of cursors (`None` → first page); products and
/// app ranges in order. It records what it was asked.
#[derive(Default)]
struct Script {
    subs: Vec<Option<&'static str>>,
    customers: Vec<Option<&'static str>>,
    products: Vec<&'static str>,
    ranges: Vec<&'static str>,
    fail_customers: bool,
    log: std::cell::RefCell<Vec<String>>,
    handed: std::cell::RefCell<Vec<(Phase, String)>>,
}

#[derive(Debug, PartialEq)]
enum Err {
    Stalled,
    Down,
    /// The walk did not end within its step limit (a test-side guard).
    Looped,
}

impl From<Stalled> for Err {
    fn from(_: Stalled) -> Self {
        Err::Stalled
    }
}

/// The cursor after `cursor` in a chain: the page at `None` is the first.
fn after(chain: &[Option<&'static str>], cursor: Option<&str>) -> Option<String> {
    let i = chain.iter().position(|c| c.as_deref() == cursor)?;
    chain.get(i + 1).copied().flatten().map(str::to_owned)
}

impl RunSource for Script {
    type Error = Err;
    async fn subscriptions_page(&self, cursor: Option<&str>) -> Result<Option<String>, Err> {
        self.log.borrow_mut().push(format!("subs {cursor:?}"));
        Ok(after(&self.subs, cursor))
    }
    async fn customers_page(&self, cursor: Option<&str>) -> Result<Option<String>, Err> {
        if self.fail_customers {
            return Err(Err::Down);
        }
        self.log.borrow_mut().push(format!("customers {cursor:?}"));
        Ok(after(&self.customers, cursor))
    }
    async fn product_after(&self, after: &str) -> Result<Option<String>, Err> {
        Ok(self
            .products
            .iter()
            .find(|p| **p > after)
            .map(|p| (*p).to_owned()))
    }
    async fn features(&self, product: &str) -> Result<(), Err> {
        self.log.borrow_mut().push(format!("features {product}"));
        Ok(())
    }
    async fn handed(&self, phase: Phase, cursor: &str) -> Result<(bool, usize), Err> {
        let mut h = self.handed.borrow_mut();
        let again = h.iter().any(|(p, c)| *p == phase && c == cursor);
        if !again {
            h.push((phase, cursor.to_owned()));
        }
        Ok((again, h.iter().filter(|(p, _)| *p == phase).count()))
    }
    async fn app_range(&self, cursor: Option<&str>) -> Result<Option<String>, Err> {
        self.log.borrow_mut().push(format!("app {cursor:?}"));
        let next = match cursor {
            None => self.ranges.first(),
            Some(c) => self
                .ranges
                .iter()
                .position(|r| *r == c)
                .and_then(|i| self.ranges.get(i + 1)),
        };
        Ok(next.map(|r| (*r).to_owned()))
    }
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Steps from the start until the run is done or fails; the positions it went through.
fn walk(s: &Script, max_pages: usize) -> (Vec<At>, Result<(), Err>) {
    let mut at = At {
        phase: Phase::Subscriptions,
        cursor: None,
    };
    let mut seen = vec![at.clone()];
    for _ in 0..100 {
        match block(advance(s, &at, max_pages)) {
            Ok(Some(next)) => {
                at = next;
                seen.push(at.clone());
            }
            Ok(None) => return (seen, Ok(())),
            Err(e) => return (seen, Err(e)),
        }
    }
    (seen, Err(Err::Looped))
}

#[test]
fn a_run_lists_subscriptions_then_customers_then_features_then_walks_the_app_keys() {
    let s = Script {
        subs: vec![None, Some("s2"), Some("s3")],
        customers: vec![None, Some("c2")],
        products: vec!["prod_a", "prod_b"],
        ranges: vec!["cus_m", "cus_t"],
        ..Script::default()
    };
    let (seen, end) = walk(&s, 10);
    assert_eq!(end, Ok(()));
    assert_eq!(
        *s.log.borrow(),
        [
            "subs None",
            "subs Some(\"s2\")",
            "subs Some(\"s3\")",
            "customers None",
            "customers Some(\"c2\")",
            "features prod_a",
            "features prod_b",
            "app None",
            "app Some(\"cus_m\")",
            "app Some(\"cus_t\")",
        ]
    );
    let phases: Vec<Phase> = seen.iter().map(|a| a.phase).collect();
    assert!(
        phases.windows(2).all(|w| w[0] as u8 <= w[1] as u8),
        "{phases:?}"
    );
}

#[test]
fn a_list_that_hands_back_a_cursor_it_handed_before_fails_the_run() {
    let s = Script {
        // s2 → s3 → s2 …: a list going round in circles.
        subs: vec![None, Some("s2"), Some("s3"), Some("s2"), Some("s3")],
        ..Script::default()
    };
    let (_, end) = walk(&s, 10);
    assert_eq!(end, Err(Err::Stalled));
}

#[test]
fn a_listing_phase_past_its_page_cap_fails_the_run() {
    let s = Script {
        customers: vec![None, Some("c2"), Some("c3"), Some("c4"), Some("c5")],
        ..Script::default()
    };
    assert_eq!(walk(&s, 3).1, Err(Err::Stalled));
    let s = Script {
        customers: vec![None, Some("c2"), Some("c3"), Some("c4"), Some("c5")],
        ..Script::default()
    };
    assert_eq!(walk(&s, 4).1, Ok(()));
}

#[test]
fn each_listing_phase_keeps_its_own_cursors_and_its_own_page_cap() {
    // The same cursor string in two phases is no repeat; each phase may take the cap.
    let s = Script {
        subs: vec![None, Some("x"), Some("y"), Some("z")],
        customers: vec![None, Some("x"), Some("y"), Some("z")],
        ..Script::default()
    };
    assert_eq!(walk(&s, 3).1, Ok(()));
    let phases: Vec<Phase> = s.handed.borrow().iter().map(|(p, _)| *p).collect();
    assert_eq!(
        phases,
        [
            Phase::Subscriptions,
            Phase::Subscriptions,
            Phase::Subscriptions,
            Phase::Customers,
            Phase::Customers,
            Phase::Customers
        ]
    );
}

#[test]
fn a_failed_read_leaves_the_run_where_it_stood() {
    let s = Script {
        fail_customers: true,
        ..Script::default()
    };
    let (seen, end) = walk(&s, 10);
    assert_eq!(end, Err(Err::Down));
    assert_eq!(
        seen.last(),
        Some(&At {
            phase: Phase::Customers,
            cursor: None
        })
    );
}
