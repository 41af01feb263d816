use super::*;
use crate::domain::mapping::MappingInput;
use crate::domain::test_support::block_on;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::cell::RefCell;

fn mapping() -> Mapping {
    let input: MappingInput =
        serde_json::from_value(crate::domain::mapping::tests_sample()).expect("sample");
    input.validate().expect("valid")
}

fn values() -> AppValues {
    [
        ("plan", json!("pro")),
        ("is_premium", json!(true)),
        ("on_trial", json!(false)),
        ("feature_sso", json!(false)),
        ("feature_audit", json!(false)),
    ]
    .into_iter()
    .map(|(k, v): (&str, Value)| (k.to_owned(), v))
    .collect()
}

/// The app table (keys, possibly repeated), the run's Stripe customers, live incidents and
/// customers touched since the run started, in memory; what was applied and noted.
#[derive(Default)]
struct Fake {
    app: Vec<String>,
    stripe: Vec<String>,
    incidents: Vec<String>,
    touched: Vec<String>,
    broken: bool,
    applied: RefCell<Vec<(Range, Vec<String>)>>,
    notes: RefCell<Vec<String>>,
}

#[derive(Debug, PartialEq)]
struct Broken;

fn sorted_after(keys: &[String], after: &str, limit: u32) -> Vec<String> {
    let mut keys: Vec<String> = keys
        .iter()
        .filter(|k| k.as_str() > after)
        .cloned()
        .collect();
    keys.sort();
    keys.truncate(limit as usize);
    keys
}

impl AppStep for Fake {
    type Error = Broken;
    async fn rows_after(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, AppValues)>, Broken> {
        if self.broken {
            return Err(Broken);
        }
        Ok(sorted_after(&self.app, after, limit)
            .into_iter()
            .map(|k| (k, values()))
            .collect())
    }
    async fn customers_after(&self, after: &str, limit: u32) -> Result<Vec<String>, Broken> {
        Ok(sorted_after(&self.stripe, after, limit))
    }
    async fn stripe_customers(
        &self,
        ids: &[String],
        range: &Range,
    ) -> Result<BTreeMap<String, StripeCustomer>, Broken> {
        Ok(ids
            .iter()
            .filter(|c| range.contains(c))
            .map(|c| (c.clone(), StripeCustomer::default()))
            .collect())
    }
    async fn features(&self) -> Result<ProductFeatures, Broken> {
        Ok(ProductFeatures::new())
    }
    async fn with_incidents(&self, range: &Range) -> Result<BTreeSet<String>, Broken> {
        Ok(self
            .incidents
            .iter()
            .filter(|c| range.contains(c))
            .cloned()
            .collect())
    }
    async fn touched_since_start(&self, range: &Range) -> Result<BTreeSet<String>, Broken> {
        Ok(self
            .touched
            .iter()
            .filter(|c| range.contains(c))
            .cloned()
            .collect())
    }
    async fn apply(
        &self,
        range: &Range,
        decided: &BTreeMap<String, Decided>,
    ) -> Result<(), Broken> {
        self.applied
            .borrow_mut()
            .push((range.clone(), decided.keys().cloned().collect()));
        Ok(())
    }
    fn note(&self, message: String) {
        let mut notes = self.notes.borrow_mut();
        if !notes.contains(&message) {
            notes.push(message);
        }
    }
}

fn keys(ks: &[&str]) -> Vec<String> {
    ks.iter().map(|k| (*k).to_owned()).collect()
}

#[test]
fn batches_are_held_to_their_bounds() {
    assert_eq!(Batches::new(0, 0), Batches { app: 1, stripe: 1 });
    assert_eq!(
        Batches::new(u32::MAX, u32::MAX),
        Batches {
            app: APP_BATCH,
            stripe: STRIPE_BATCH
        }
    );
    assert_eq!(Batches::new(7, 9), Batches { app: 7, stripe: 9 });
}

#[test]
fn a_step_decides_app_rows_stripe_customers_and_incidents_of_its_range() {
    let f = Fake {
        app: keys(&["cus_a", "cus_c"]),
        stripe: keys(&["cus_b", "cus_c"]),
        incidents: keys(&["cus_d"]),
        ..Default::default()
    };
    let (next, counts) =
        block_on(app_step(&f, &mapping(), "", Batches::new(10, 10))).expect("step");
    assert_eq!(next, None, "nothing was capped: the key space is done");
    assert_eq!(counts.customers_checked, 4);
    assert_eq!(counts.db_round_trips, 1);
    assert_eq!(
        f.applied.borrow()[0].1,
        keys(&["cus_a", "cus_b", "cus_c", "cus_d"])
    );
}

#[test]
fn a_full_batch_stops_the_range_at_its_last_key() {
    let f = Fake {
        app: keys(&["cus_a", "cus_b", "cus_c"]),
        stripe: keys(&["cus_a", "cus_z"]),
        ..Default::default()
    };
    let (next, _) = block_on(app_step(&f, &mapping(), "", Batches::new(2, 10))).expect("step");
    assert_eq!(next.as_deref(), Some("cus_b"));
    // cus_z is beyond the range: decided by a later step.
    assert_eq!(f.applied.borrow()[0].1, keys(&["cus_a", "cus_b"]));
}

#[test]
fn a_key_that_is_not_a_customer_id_is_skipped_with_a_note() {
    let f = Fake {
        app: keys(&["cus_a", "not-a-customer"]),
        ..Default::default()
    };
    block_on(app_step(&f, &mapping(), "", Batches::new(10, 10))).expect("step");
    assert_eq!(f.applied.borrow()[0].1, keys(&["cus_a"]));
    assert_eq!(
        *f.notes.borrow(),
        ["an app row's customer key is not a Stripe customer id; skipped"]
    );
}

#[test]
fn a_customer_with_two_app_rows_is_noted_and_not_decided() {
    let f = Fake {
        app: keys(&["cus_a", "cus_a", "cus_b"]),
        ..Default::default()
    };
    block_on(app_step(&f, &mapping(), "", Batches::new(10, 10))).expect("step");
    assert_eq!(f.applied.borrow()[0].1, keys(&["cus_b"]));
    assert_eq!(
        *f.notes.borrow(),
        ["the app table has more than one row for customer cus_a; it was not decided"]
    );
}

#[test]
fn a_fresher_decision_since_the_run_started_stands() {
    let f = Fake {
        app: keys(&["cus_a", "cus_b"]),
        touched: keys(&["cus_b"]),
        ..Default::default()
    };
    let (_, counts) = block_on(app_step(&f, &mapping(), "", Batches::new(10, 10))).expect("step");
    assert_eq!(f.applied.borrow()[0].1, keys(&["cus_a"]));
    assert_eq!(counts.customers_checked, 1);
}

#[test]
fn a_broken_store_is_an_error_and_applies_nothing() {
    let f = Fake {
        app: keys(&["cus_a"]),
        broken: true,
        ..Default::default()
    };
    assert_eq!(
        block_on(app_step(&f, &mapping(), "", Batches::new(10, 10))),
        Err(Broken)
    );
    assert!(f.applied.borrow().is_empty());
}

proptest! {
    /// Whatever the batches, walking the steps to the end decides every customer once.
    #[test]
    fn steps_walked_to_the_end_decide_every_customer_once(
        app in proptest::collection::btree_set("cus_[a-f]{1,3}", 0..20),
        stripe in proptest::collection::btree_set("cus_[a-f]{1,3}", 0..20),
        app_batch in 1u32..6,
        stripe_batch in 1u32..6,
    ) {
        let f = Fake {
            app: app.iter().cloned().collect(),
            stripe: stripe.iter().cloned().collect(),
            ..Default::default()
        };
        let m = mapping();
        let mut after = String::new();
        for _ in 0..200 {
            match block_on(app_step(&f, &m, &after, Batches::new(app_batch, stripe_batch))).expect("step") {
                (Some(next), _) => after = next,
                (None, _) => break,
            }
        }
        let decided: Vec<String> = f.applied.borrow().iter().flat_map(|(_, d)| d.clone()).collect();
        let all: Vec<String> = app.union(&stripe).cloned().collect();
        prop_assert_eq!(decided, all);
    }
}
