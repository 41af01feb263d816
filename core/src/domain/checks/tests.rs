use super::*;
use crate::domain::incidents::IncidentStatus;
use crate::domain::mapping::MappingInput;
use crate::domain::reconcile::{
    self, AppValues, IncidentKind, ItemFacts, ProductFeatures, StripeCustomer, SubFacts,
};
use crate::domain::test_support::block_on as run;
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;

fn mapping() -> Mapping {
    let input: MappingInput =
        serde_json::from_value(crate::domain::mapping::tests_sample()).unwrap();
    input.validate().unwrap()
}

/// What a check decides for `customer`: paying for pro (or not), against an app row on `plan`.
fn decided(m: &Mapping, customer: &str, paying: bool, plan: &str) -> Decided {
    let subs = if paying {
        vec![SubFacts {
            id: format!("sub_{customer}"),
            status: "active".into(),
            items: vec![ItemFacts {
                price: Some("price_pro".into()),
                product: None,
            }],
        }]
    } else {
        Vec::new()
    };
    let stripe = StripeCustomer {
        subscriptions: subs,
        active_entitlements: None,
    };
    let pro = plan == "pro";
    let app: AppValues = [
        ("plan", json!(plan)),
        ("is_premium", json!(pro)),
        ("on_trial", json!(false)),
        ("feature_sso", json!(pro)),
        ("feature_audit", json!(false)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let e = reconcile::expected(m, &stripe, &ProductFeatures::new());
    let a = reconcile::actual(m, &app);
    Decided {
        drifts: reconcile::diff(m, customer, Some(&e), Some(&a)),
        stripe: Some(stripe),
        app: Some(app),
    }
}

/// Incidents and repairs in memory; a commit applies a batch as D1 would.
#[derive(Default)]
struct Book {
    live: RefCell<Live>,
    ids: Cell<u64>,
    /// The customers of each batch committed, in order.
    commits: RefCell<Vec<BTreeSet<String>>>,
    /// Commits that write nothing and say nothing (a bug the loop bound must catch).
    forgets: Cell<bool>,
}

impl Book {
    fn next(&self, prefix: &str) -> String {
        self.ids.set(self.ids.get() + 1);
        format!("{prefix}{:022}", self.ids.get())
    }

    fn open(&self) -> usize {
        self.live
            .borrow()
            .incidents
            .iter()
            .filter(|i| i.status == IncidentStatus::Open)
            .count()
    }
}

impl IncidentBook for Book {
    type Error = Unsettled;

    fn now(&self) -> Timestamp {
        Timestamp::from_millis(7)
    }

    fn incident_ids(&self, n: usize) -> Result<Vec<String>, Unsettled> {
        Ok((0..n).map(|_| self.next("inc_")).collect())
    }

    fn repair_id(&self) -> String {
        self.next("rep_")
    }

    async fn commit<'d>(
        &self,
        scope: Scope<'_>,
        decide: &dyn Fn(&Live) -> Result<Batch<'d>, Unsettled>,
    ) -> Result<Batch<'d>, Unsettled> {
        let mut read = self.live.borrow().clone();
        if let Scope::Customer(c) = scope {
            read.incidents.retain(|i| i.customer == c);
        }
        let batch = decide(&read)?;
        if batch.plans.is_empty() || self.forgets.get() {
            return Ok(batch);
        }
        let mut live = self.live.borrow_mut();
        let mut customers = BTreeSet::new();
        for plan in &batch.plans {
            for c in &plan.incidents {
                let after = c.after().clone();
                customers.insert(after.customer.clone());
                live.incidents.retain(|i| i.id != after.id);
                if after.status != IncidentStatus::Resolved {
                    live.incidents.push(after);
                }
            }
            for (_, after) in &plan.links {
                live.incidents.retain(|i| i.id != after.id);
                live.incidents.push(after.clone());
            }
            for r in &plan.repairs {
                let after = r.after().clone();
                live.repairs.insert(after.id.clone(), after);
            }
        }
        self.commits.borrow_mut().push(customers);
        Ok(batch)
    }
}

fn range() -> Range {
    Range {
        after: String::new(),
        upto: None,
    }
}

fn customers(m: &Mapping, n: usize, paying: bool, plan: &str) -> BTreeMap<String, Decided> {
    (0..n)
        .map(|i| {
            let c = format!("cus_{i:03}");
            let d = decided(m, &c, paying, plan);
            (c, d)
        })
        .collect()
}

#[test]
fn a_range_is_applied_in_batches_of_whole_customers_and_opens_each_drift_once() {
    let m = mapping();
    // Paying for pro, free in the app: drifts (and repairs) for every customer.
    let all = customers(&m, 120, true, "free");
    let drifts: usize = all.values().map(|d| d.drifts.len()).sum();
    assert!(drifts >= 120);
    let book = Book::default();
    let applied = run(apply_range(&book, &m, &range(), &all)).unwrap();
    assert_eq!(applied.opened as usize, drifts);
    assert_eq!(book.open(), drifts);
    let commits = book.commits.borrow().clone();
    assert!(commits.len() > 1, "more than one batch: {}", commits.len());
    let mut seen = BTreeSet::new();
    for batch in &commits {
        assert!(batch.is_disjoint(&seen), "a customer split across batches");
        seen.extend(batch.iter().cloned());
    }
    assert_eq!(seen.len(), 120);
    // Every open incident names its pending repair.
    let live = book.live.borrow().clone();
    assert!(live.incidents.iter().all(|i| i
        .repair_id
        .as_ref()
        .is_some_and(|r| live.repairs.contains_key(r))));

    // Applied again (a step retried after a crash): nothing opens twice, nothing is written.
    let again = run(apply_range(&book, &m, &range(), &all)).unwrap();
    assert_eq!(again, Applied::default());
    assert_eq!(book.commits.borrow().len(), commits.len());
    assert_eq!(book.open(), drifts);
}

#[test]
fn a_range_whose_drifts_are_gone_resolves_them_and_withdraws_their_repairs() {
    let m = mapping();
    let book = Book::default();
    let opened = run(apply_range(
        &book,
        &m,
        &range(),
        &customers(&m, 30, true, "free"),
    ))
    .unwrap();
    // Now on pro in the app too: parity.
    let fixed = customers(&m, 30, true, "pro");
    assert!(fixed.values().all(|d| d.drifts.is_empty()));
    let applied = run(apply_range(&book, &m, &range(), &fixed)).unwrap();
    assert_eq!(applied.resolved, opened.opened);
    assert_eq!(applied.opened, 0);
    assert_eq!(book.open(), 0);
    let live = book.live.borrow();
    assert!(!live.repairs.is_empty());
    assert!(live
        .repairs
        .values()
        .all(|r| r.status == crate::domain::repairs::RepairStatus::Rejected));
}

#[test]
fn a_customer_check_answers_its_changes_in_kind_order_and_writes_nothing_without_any() {
    let m = mapping();
    let book = Book::default();
    let d = decided(&m, "cus_1", true, "free");
    let changes = run(apply_customer(&book, &m, "cus_1", &d)).unwrap();
    let kinds: Vec<IncidentKind> = changes.iter().map(|c| c.after().kind).collect();
    let mut sorted = kinds.clone();
    sorted.sort_by_key(|k| IncidentKind::ALL.iter().position(|x| x == k));
    assert_eq!(kinds, sorted);
    assert_eq!(changes.len(), d.drifts.len());
    assert!(changes.iter().all(|c| matches!(c, Change::Opened(_))));
    // Another customer's incidents are not this check's: it plans against its own.
    let other = decided(&m, "cus_2", true, "free");
    run(apply_customer(&book, &m, "cus_2", &other)).unwrap();
    // The same check again: nothing changes, nothing is written.
    let again = run(apply_customer(&book, &m, "cus_1", &d)).unwrap();
    assert!(again.is_empty());
    assert_eq!(book.commits.borrow().len(), 2);
}

#[test]
fn a_batch_passes_over_customers_with_nothing_to_change_and_stops_at_whole_customers() {
    let m = mapping();
    let all = customers(&m, 3, true, "free");
    let fine = decided(&m, "cus_fine", true, "pro");
    let mut list: Vec<(&str, &Decided)> = vec![("cus_fine", &fine)];
    list.extend(all.iter().map(|(c, d)| (c.as_str(), d)));
    let (mut i, mut r) = (0, 0);
    let mut inc = || {
        i += 1;
        format!("inc_{i}")
    };
    let mut rep = || {
        r += 1;
        format!("rep_{r}")
    };
    let mut ids = Ids {
        incident: &mut inc,
        repair: &mut rep,
    };
    let now = Timestamp::from_millis(1);
    let whole = plan_batch(&m, &list, &Live::default(), now, &mut ids, usize::MAX);
    assert_eq!(
        whole.plans.len(),
        3,
        "the customer at parity is passed over"
    );
    assert!(!whole.more);
    let one = whole.plans[0].len();
    // A limit of one change still takes the first customer whole, then stops.
    let small = plan_batch(&m, &list, &Live::default(), now, &mut ids, 1);
    assert_eq!(small.plans.len(), 1);
    assert_eq!(small.plans[0].len(), one);
    assert!(small.more);
    assert_eq!(
        small.applied.opened as usize,
        small.plans[0].incidents.len()
    );
}

#[test]
fn a_range_that_never_settles_is_an_error_not_a_loop() {
    let m = mapping();
    let book = Book::default();
    book.forgets.set(true);
    let all = customers(&m, 250, true, "free");
    let got = run(apply_range(&book, &m, &range(), &all));
    assert_eq!(got, Err(Unsettled));
}
