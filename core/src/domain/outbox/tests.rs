use super::*;
use proptest::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Failed {
    person: bool,
    code: &'static str,
}

impl CheckFailure for Failed {
    fn needs_a_person(&self) -> bool {
        self.person
    }
    fn code(&self) -> String {
        self.code.to_owned()
    }
}

#[derive(Debug, Clone)]
struct Row {
    id: String,
    customer: String,
    attempts: i64,
    done: bool,
    next_at: Timestamp,
    last_error: Option<String>,
}

/// An outbox in memory, rows in arrival order.
#[derive(Default, Clone)]
struct Memory(Rc<RefCell<Vec<Row>>>);

impl Memory {
    fn add(&self, id: &str, customer: &str, at: Timestamp) {
        self.0.borrow_mut().push(Row {
            id: id.to_owned(),
            customer: customer.to_owned(),
            attempts: 0,
            done: false,
            next_at: at,
            last_error: None,
        });
    }
    fn row(&self, id: &str) -> Row {
        self.0
            .borrow()
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .expect("row")
    }
    fn pending(r: &Row) -> PendingRow {
        PendingRow {
            id: r.id.clone(),
            customer: r.customer.clone(),
            attempts: r.attempts,
        }
    }
}

impl OutboxStore for Memory {
    type Error = Failed;
    async fn due(&self, now: Timestamp, limit: u32) -> Result<Vec<PendingRow>, Failed> {
        Ok(self
            .0
            .borrow()
            .iter()
            .filter(|r| !r.done && r.next_at <= now)
            .take(limit as usize)
            .map(Memory::pending)
            .collect())
    }
    async fn pending_of(&self, customer: &str) -> Result<Vec<PendingRow>, Failed> {
        Ok(self
            .0
            .borrow()
            .iter()
            .filter(|r| !r.done && r.customer == customer)
            .map(Memory::pending)
            .collect())
    }
    async fn done(&self, rows: &[PendingRow], _now: Timestamp) -> Result<(), Failed> {
        for r in self.0.borrow_mut().iter_mut() {
            if rows.iter().any(|p| p.id == r.id) {
                r.done = true;
            }
        }
        Ok(())
    }
    async fn retry_later(&self, customer: &str, code: &str, at: Timestamp) -> Result<(), Failed> {
        for r in self.0.borrow_mut().iter_mut() {
            if !r.done && r.customer == customer {
                r.attempts += 1;
                r.next_at = at;
                r.last_error = Some(code.to_owned());
            }
        }
        Ok(())
    }
    async fn next_due(&self) -> Result<Option<Timestamp>, Failed> {
        Ok(self
            .0
            .borrow()
            .iter()
            .filter(|r| !r.done)
            .map(|r| r.next_at)
            .min())
    }
}

/// A checker answering from a table; it counts checks per customer and can deliver new rows
/// into the outbox while it checks (an event arriving mid-check).
struct Fake {
    outcomes: BTreeMap<String, Result<(), Failed>>,
    all: Option<Failed>,
    checks: RefCell<BTreeMap<String, u32>>,
    arrive: Vec<(String, String)>,
    store: Memory,
    now: Timestamp,
}

impl Fake {
    fn new(store: &Memory, now: Timestamp) -> Self {
        Fake {
            outcomes: BTreeMap::new(),
            all: None,
            checks: RefCell::default(),
            arrive: Vec::new(),
            store: store.clone(),
            now,
        }
    }
}

impl Checker for Fake {
    type Error = Failed;
    async fn check(
        &self,
        customers: &[String],
    ) -> Result<BTreeMap<String, Result<(), Failed>>, Failed> {
        for (id, customer) in &self.arrive {
            self.store.add(id, customer, self.now);
        }
        for c in customers {
            *self.checks.borrow_mut().entry(c.clone()).or_default() += 1;
        }
        if let Some(e) = &self.all {
            return Err(e.clone());
        }
        Ok(customers
            .iter()
            .map(|c| {
                let o = self.outcomes.get(c).cloned().unwrap_or(Ok(()));
                (c.clone(), o)
            })
            .collect())
    }
}

fn t(s: i64) -> Timestamp {
    Timestamp::from_millis(1_800_000_000_000 + s * 1000)
}

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

const DOWN: Failed = Failed {
    person: false,
    code: "database_unreachable",
};

#[test]
fn many_events_for_one_customer_are_answered_by_one_check() {
    let store = Memory::default();
    for i in 0..50 {
        store.add(&format!("o{i}"), "cus_a", t(0));
    }
    store.add("b", "cus_b", t(0));
    let fake = Fake::new(&store, t(1));
    let d = run(drain(&store, &fake, t(1), 25)).expect("drain");
    assert_eq!(d.checked, 2);
    assert_eq!(d.done, 51);
    assert_eq!(fake.checks.borrow().get("cus_a"), Some(&1));
    assert!(store.0.borrow().iter().all(|r| r.done));
    assert_eq!(d.next_due, None);
}

#[test]
fn a_failed_check_leaves_every_row_of_its_customer_pending_with_backoff() {
    let store = Memory::default();
    store.add("a1", "cus_a", t(0));
    store.add("a2", "cus_a", t(500)); // not due yet, but the customer's: it waits too
    store.add("b1", "cus_b", t(0));
    let mut fake = Fake::new(&store, t(1));
    fake.outcomes.insert("cus_a".into(), Err(DOWN));
    let d = run(drain(&store, &fake, t(1), 25)).expect("drain");
    assert_eq!(d.failed, vec![("cus_a".to_owned(), DOWN)]);
    for id in ["a1", "a2"] {
        let r = store.row(id);
        assert!(!r.done, "{id}");
        assert_eq!(r.attempts, 1);
        assert_eq!(r.next_at, t(1 + 10));
        assert_eq!(r.last_error.as_deref(), Some("database_unreachable"));
    }
    assert!(store.row("b1").done);
    assert_eq!(d.next_due, Some(t(11)));
    // The next failure waits twice as long.
    let d = run(drain(&store, &fake, t(11), 25)).expect("drain");
    assert_eq!(d.checked, 1);
    assert_eq!(store.row("a1").next_at, t(11 + 20));
}

#[test]
fn a_failure_only_a_person_can_end_waits_a_day() {
    let store = Memory::default();
    store.add("a", "cus_a", t(0));
    let mut fake = Fake::new(&store, t(0));
    fake.all = Some(Failed {
        person: true,
        code: "mapping_missing",
    });
    let d = run(drain(&store, &fake, t(0), 25)).expect("drain");
    assert_eq!(d.failed.len(), 1);
    assert_eq!(store.row("a").next_at, t(86_400));
    assert!(!store.row("a").done);
}

#[test]
fn a_row_that_arrives_during_the_check_stays_pending_and_due() {
    let store = Memory::default();
    store.add("a1", "cus_a", t(0));
    let mut fake = Fake::new(&store, t(1));
    fake.arrive = vec![("a2".into(), "cus_a".into())];
    let d = run(drain(&store, &fake, t(1), 25)).expect("drain");
    assert_eq!(d.done, 1);
    assert!(store.row("a1").done);
    assert!(
        !store.row("a2").done,
        "answered by a read that may predate it"
    );
    assert_eq!(d.next_due, Some(t(1)));
}

#[test]
fn nothing_due_checks_nothing() {
    let store = Memory::default();
    store.add("a", "cus_a", t(100));
    let fake = Fake::new(&store, t(0));
    let d = run(drain(&store, &fake, t(0), 25)).expect("drain");
    assert_eq!(d.checked, 0);
    assert!(fake.checks.borrow().is_empty());
    assert_eq!(d.next_due, Some(t(100)));
}

#[test]
fn a_drain_checks_at_most_its_customer_budget() {
    let store = Memory::default();
    for i in 0..30 {
        store.add(&format!("r{i}"), &format!("cus_{i:02}"), t(0));
    }
    let fake = Fake::new(&store, t(0));
    let d = run(drain(&store, &fake, t(0), 25)).expect("drain");
    assert_eq!(d.checked, 25);
    assert_eq!(store.0.borrow().iter().filter(|r| !r.done).count(), 5);
    assert_eq!(d.next_due, Some(t(0)));
}

proptest! {
    /// Whatever arrives and fails, in whatever order: a row is done only if a check of its
    /// customer succeeded after it was enqueued, no row is lost, and once every check succeeds
    /// the outbox empties.
    #[test]
    fn no_row_is_lost_or_answered_early(
        ops in proptest::collection::vec((0u8..4, 0usize..4, any::<bool>()), 1..40)
    ) {
        let store = Memory::default();
        let customers = ["cus_a", "cus_b", "cus_c", "cus_d"];
        // For each row, the drain round it arrived in; for each customer, the rounds whose
        // check succeeded.
        let mut arrived: BTreeMap<String, usize> = BTreeMap::new();
        let mut ok_rounds: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut clock = 0i64;
        for (round, (op, c, fail)) in ops.iter().enumerate() {
            let id = format!("r{round}");
            if *op < 3 {
                store.add(&id, customers[*c], t(clock));
                arrived.insert(id, round);
                continue;
            }
            clock += 4000; // past any backoff but a day's
            let mut fake = Fake::new(&store, t(clock));
            if *fail {
                fake.outcomes.insert(customers[*c].to_owned(), Err(DOWN));
            }
            let checked_before: Vec<String> = store.0.borrow().iter().filter(|r| !r.done).map(|r| r.customer.clone()).collect();
            run(drain(&store, &fake, t(clock), 2)).expect("drain");
            for (cust, n) in fake.checks.borrow().iter() {
                prop_assert_eq!(*n, 1);
                prop_assert!(checked_before.contains(cust));
                if !(*fail && cust == customers[*c]) {
                    ok_rounds.entry(customers.iter().find(|x| **x == cust.as_str()).copied().unwrap_or("")).or_default().push(round);
                }
            }
        }
        for r in store.0.borrow().iter() {
            if r.done {
                let at = arrived[&r.id];
                let rounds = ok_rounds.get(r.customer.as_str()).cloned().unwrap_or_default();
                prop_assert!(rounds.iter().any(|k| *k > at), "{} done without a later check", r.id);
            }
        }
        prop_assert_eq!(store.0.borrow().len(), arrived.len());
        // Every check succeeds from here: the outbox empties.
        for _ in 0..10 {
            clock += 4000;
            let fake = Fake::new(&store, t(clock));
            run(drain(&store, &fake, t(clock), 2)).expect("drain");
        }
        prop_assert!(store.0.borrow().iter().all(|r| r.done));
    }
}
