use super::*;
use crate::domain::test_support::block_on as run;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
enum Err {
    InProgress(Option<String>),
    /// Ours: the store failed.
    Store,
    /// Stripe or the customer's database.
    Down(&'static str),
}

impl From<InProgress> for Err {
    fn from(p: InProgress) -> Self {
        Err::InProgress(p.0)
    }
}

impl RunFailure for Err {
    fn in_progress(&self) -> bool {
        matches!(self, Err::InProgress(_))
    }
    fn is_ours(&self) -> bool {
        matches!(self, Err::Store)
    }
    fn code(&self) -> String {
        match self {
            Err::Down(c) => (*c).to_owned(),
            other => format!("{other:?}"),
        }
    }
    fn message(&self) -> String {
        format!("{} happened", self.code())
    }
}

/// Runs in memory, with the store's rules: one running run, steps guarded by number.
#[derive(Default)]
struct Book {
    runs: RefCell<BTreeMap<String, (Run, Position)>>,
    /// `run.started` / `run.finished` entries, in order.
    audit: RefCell<Vec<(&'static str, String)>>,
    handed: RefCell<Vec<String>>,
    hand_over_fails: Cell<bool>,
    /// The running run ends between the refused create and the read of it.
    ends_meanwhile: Cell<bool>,
    reports: RefCell<Vec<(String, String)>>,
    /// What recording a step answers instead of recording it.
    advance_fails: RefCell<Option<Err>>,
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

impl RunBook for Book {
    type Error = Err;

    async fn get(&self, id: &str) -> Result<Option<(Run, Position)>, Err> {
        Ok(self.runs.borrow().get(id).cloned())
    }

    async fn running(&self) -> Result<Option<(Run, Position)>, Err> {
        if self.ends_meanwhile.get() {
            return Ok(None);
        }
        Ok(self
            .runs
            .borrow()
            .values()
            .find(|(r, _)| r.status == RunStatus::Running)
            .cloned())
    }

    async fn create(&self, run: &Run) -> Result<(), Err> {
        if self
            .runs
            .borrow()
            .values()
            .any(|(r, _)| r.status == RunStatus::Running)
        {
            return Err(Err::InProgress(None));
        }
        let pos = Position {
            step: 0,
            phase: Phase::Subscriptions,
            cursor: None,
            updated_at: run.started_at,
        };
        self.runs
            .borrow_mut()
            .insert(run.id.clone(), (run.clone(), pos));
        self.audit
            .borrow_mut()
            .push(("run.started", run.id.clone()));
        Ok(())
    }

    async fn hand_over(&self, id: &str) -> Result<(), Err> {
        if self.hand_over_fails.get() {
            return Err(Err::Store);
        }
        self.handed.borrow_mut().push(id.to_owned());
        Ok(())
    }

    async fn advance(
        &self,
        id: &str,
        step: i64,
        next: &At,
        errors: &[String],
        counts: Counts,
    ) -> Result<(), Err> {
        if let Some(e) = self.advance_fails.borrow().clone() {
            return Err(e);
        }
        let mut runs = self.runs.borrow_mut();
        let Some((run, pos)) = runs.get_mut(id) else {
            return Ok(());
        };
        if pos.step != step || run.status != RunStatus::Running {
            return Ok(());
        }
        *run = run.clone().counted(counts);
        run.errors = errors.to_vec();
        *pos = Position {
            step: step + 1,
            phase: next.phase,
            cursor: next.cursor.clone(),
            updated_at: pos.updated_at,
        };
        Ok(())
    }

    async fn finish(
        &self,
        id: &str,
        status: RunStatus,
        errors: &[String],
        counts: Counts,
    ) -> Result<(), Err> {
        let mut runs = self.runs.borrow_mut();
        let Some((run, pos)) = runs.get_mut(id) else {
            return Ok(());
        };
        if run.status != RunStatus::Running {
            return Ok(());
        }
        *run = run.clone().counted(counts);
        run.status = status;
        run.errors = errors.to_vec();
        run.finished_at = Some(at(9));
        pos.step += 1;
        self.audit
            .borrow_mut()
            .push(("run.finished", id.to_owned()));
        Ok(())
    }

    fn report(&self, run: &str, what: &str, _e: &Err) {
        self.reports
            .borrow_mut()
            .push((run.to_owned(), what.to_owned()));
    }
}

fn new_run(id: &str, started: i64) -> Run {
    Run::new(id.into(), RunTrigger::Api, at(started))
}

fn counts(n: u64) -> Counts {
    Counts {
        customers_checked: n,
        incidents_opened: 1,
        incidents_resolved: 0,
        stripe_requests: 2,
        db_round_trips: 3,
    }
}

fn stored(b: &Book, id: &str) -> (Run, Position) {
    b.runs.borrow()[id].clone()
}

#[test]
fn a_run_starts_once_per_project_and_is_handed_to_its_coordinator() {
    let b = Book::default();
    run(start(&b, &new_run("run_1", 0), at(0))).unwrap();
    assert_eq!(*b.handed.borrow(), vec!["run_1".to_owned()]);
    // A second start while it runs: refused with the running run's id, nothing recorded, and
    // a run that recorded a step recently is not handed over again.
    let got = run(start(&b, &new_run("run_2", 1_000), at(1_000)));
    assert_eq!(got, Err(Err::InProgress(Some("run_1".into()))));
    assert!(!b.runs.borrow().contains_key("run_2"));
    assert_eq!(b.handed.borrow().len(), 1);
    assert_eq!(*b.audit.borrow(), vec![("run.started", "run_1".to_owned())]);
}

#[test]
fn a_running_run_silent_past_the_stale_limit_is_handed_over_again() {
    let b = Book::default();
    run(start(&b, &new_run("run_1", 0), at(0))).unwrap();
    let late = at(STALE_MS + 1);
    let got = run(start(&b, &new_run("run_2", late.millis()), late));
    assert_eq!(got, Err(Err::InProgress(Some("run_1".into()))));
    assert_eq!(
        *b.handed.borrow(),
        vec!["run_1".to_owned(), "run_1".to_owned()]
    );
    // Exactly at the limit it is not stale yet.
    let b = Book::default();
    run(start(&b, &new_run("run_1", 0), at(0))).unwrap();
    let _ = run(start(&b, &new_run("run_2", STALE_MS), at(STALE_MS)));
    assert_eq!(b.handed.borrow().len(), 1);
    // A failed resumption is reported, and the answer is the same.
    let b = Book::default();
    run(start(&b, &new_run("run_1", 0), at(0))).unwrap();
    b.hand_over_fails.set(true);
    let got = run(start(&b, &new_run("run_2", late.millis()), late));
    assert_eq!(got, Err(Err::InProgress(Some("run_1".into()))));
    assert_eq!(*b.reports.borrow(), vec![("run_1".into(), "resume".into())]);
}

#[test]
fn a_run_refused_for_one_that_ended_meanwhile_is_still_refused_without_an_id() {
    let b = Book::default();
    run(start(&b, &new_run("run_1", 0), at(0))).unwrap();
    b.ends_meanwhile.set(true);
    let got = run(start(&b, &new_run("run_2", 5), at(5)));
    assert_eq!(got, Err(Err::InProgress(None)));
}

#[test]
fn a_run_its_coordinator_cannot_take_ends_failed_at_once() {
    let b = Book::default();
    b.hand_over_fails.set(true);
    let got = run(start(&b, &new_run("run_1", 0), at(0)));
    assert_eq!(got, Err(Err::Store));
    let (r, _) = stored(&b, "run_1");
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(
        r.errors,
        vec!["the run could not be handed to the project's coordinator".to_owned()]
    );
    // Nothing runs: the next start is not refused.
    b.hand_over_fails.set(false);
    assert_eq!(run(start(&b, &new_run("run_2", 1), at(1))), Ok(()));
}

fn next(phase: Phase, cursor: &str) -> At {
    At {
        phase,
        cursor: Some(cursor.into()),
    }
}

#[test]
fn each_step_records_its_position_counts_and_notes_and_the_last_ends_the_run() {
    let b = Book::default();
    run(start(&b, &new_run("run_1", 0), at(0))).unwrap();
    let first = Stepped {
        next: Some(next(Phase::Subscriptions, "sub_9")),
        counts: counts(0),
        notes: vec!["a price the mapping does not know: price_x".into()],
    };
    let got = run(step(&b, "run_1", |r, p| async move {
        assert_eq!(
            (r.id.as_str(), p.step, p.phase),
            ("run_1", 0, Phase::Subscriptions)
        );
        Ok(first)
    }));
    assert_eq!(got, Ok(Next::More));
    let (r, p) = stored(&b, "run_1");
    assert_eq!((p.step, p.cursor.as_deref()), (1, Some("sub_9")));
    assert_eq!((r.stripe_requests, r.errors.len()), (2, 1));

    let last = Stepped {
        next: None,
        counts: counts(40),
        notes: vec![],
    };
    let got = run(step(&b, "run_1", |_, p| async move {
        assert_eq!(
            p.cursor.as_deref(),
            Some("sub_9"),
            "it goes on where it stood"
        );
        Ok(last)
    }));
    assert_eq!(got, Ok(Next::Stop));
    let (r, _) = stored(&b, "run_1");
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!((r.customers_checked, r.stripe_requests), (40, 4));
    assert_eq!(r.errors.len(), 1, "notes stay");
    assert_eq!(
        b.audit.borrow().last(),
        Some(&("run.finished", "run_1".into()))
    );

    // An ended run, or one that is gone, is not stepped again.
    for id in ["run_1", "run_gone"] {
        let got = run(step(&b, id, |_, _| async { panic!("stepped {id}") }));
        assert_eq!(got, Ok(Next::Stop));
    }
}

#[test]
fn a_run_keeps_at_most_twenty_errors_the_first_ones() {
    let b = Book::default();
    run(start(&b, &new_run("run_1", 0), at(0))).unwrap();
    for round in 0..3 {
        let notes = (0..8).map(|i| format!("note {round}.{i}")).collect();
        let s = Stepped {
            next: Some(next(Phase::Customers, &format!("cus_{round}"))),
            counts: Counts::default(),
            notes,
        };
        run(step(&b, "run_1", |_, _| async { Ok(s) })).unwrap();
    }
    let (r, _) = stored(&b, "run_1");
    assert_eq!(r.errors.len(), MAX_ERRORS);
    assert_eq!(r.errors[0], "note 0.0");
    assert_eq!(r.errors[19], "note 2.3");
}

#[test]
fn a_failure_of_stripe_or_the_database_ends_the_run_and_ours_leaves_it_to_try_again() {
    let b = Book::default();
    run(start(&b, &new_run("run_1", 0), at(0))).unwrap();
    let s = Stepped {
        next: Some(next(Phase::Customers, "cus_5")),
        counts: counts(0),
        notes: vec![],
    };
    run(step(&b, "run_1", |_, _| async { Ok(s) })).unwrap();

    // Ours: an error, nothing recorded, the same step again next time.
    let got = run(step(&b, "run_1", |_, _| async { Err(Err::Store) }));
    assert_eq!(got, Err(Err::Store));
    let (r, p) = stored(&b, "run_1");
    assert_eq!(
        (r.status, p.step, p.cursor.as_deref()),
        (RunStatus::Running, 1, Some("cus_5"))
    );

    // Stripe's: the run ends failed, in words, with what it counted before kept.
    let got = run(step(&b, "run_1", |_, _| async {
        Err(Err::Down("stripe_unreachable"))
    }));
    assert_eq!(got, Ok(Next::Stop));
    let (r, _) = stored(&b, "run_1");
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(
        r.errors,
        vec!["stripe_unreachable during customers: stripe_unreachable happened".to_owned()]
    );
    assert_eq!(r.stripe_requests, 2);
    assert!(r.finished_at.is_some());
}

#[test]
fn an_abandoned_run_ends_failed_with_the_reason_added() {
    let b = Book::default();
    run(start(&b, &new_run("run_1", 0), at(0))).unwrap();
    run(abandon(
        &b,
        "run_1",
        "the coordinator gave up after 5 attempts",
    ))
    .unwrap();
    let (r, _) = stored(&b, "run_1");
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(
        r.errors,
        vec!["the coordinator gave up after 5 attempts".to_owned()]
    );
    assert_eq!(run(abandon(&b, "run_gone", "x")), Ok(()));
    // Abandoning an ended run changes nothing.
    run(abandon(&b, "run_1", "again")).unwrap();
    assert_eq!(stored(&b, "run_1").0.errors.len(), 1);
}

#[test]
fn a_step_that_cannot_be_recorded_leaves_the_run_running_whatever_the_failure() {
    let b = Book::default();
    run(start(&b, &new_run("run_1", 0), at(0))).unwrap();
    // Even a failure that would end the run had the work failed with it: recording is ours.
    *b.advance_fails.borrow_mut() = Some(Err::Down("audit_contention"));
    let s = Stepped {
        next: Some(next(Phase::Customers, "cus_5")),
        counts: counts(3),
        notes: vec![],
    };
    let got = run(step(&b, "run_1", |_, _| async { Ok(s) }));
    assert_eq!(got, Err(Err::Down("audit_contention")));
    let (r, p) = stored(&b, "run_1");
    assert_eq!(
        (r.status, p.step, r.customers_checked),
        (RunStatus::Running, 0, 0)
    );
}

#[test]
fn the_error_that_ends_a_run_is_kept_even_when_twenty_came_before() {
    let b = with_twenty_errors();
    run(step(&b, "run_1", |_, _| async {
        Err(Err::Down("database_timeout"))
    }))
    .unwrap();
    let (r, _) = stored(&b, "run_1");
    assert_eq!(r.errors.len(), MAX_ERRORS);
    assert_eq!(r.errors[MAX_ERRORS - 2], "note 18");
    assert!(r.errors[MAX_ERRORS - 1].starts_with("database_timeout during customers"));
}

#[test]
fn an_abandoned_run_with_twenty_errors_keeps_the_reason_it_was_abandoned() {
    let b = with_twenty_errors();
    run(abandon(&b, "run_1", "the coordinator gave up")).unwrap();
    let (r, _) = stored(&b, "run_1");
    assert_eq!(r.errors.len(), MAX_ERRORS);
    assert_eq!(
        r.errors.last().map(String::as_str),
        Some("the coordinator gave up")
    );
}

/// A running run that recorded 25 notes, of which it keeps 20.
fn with_twenty_errors() -> Book {
    let b = Book::default();
    run(start(&b, &new_run("run_1", 0), at(0))).unwrap();
    let s = Stepped {
        next: Some(next(Phase::Customers, "cus_1")),
        counts: Counts::default(),
        notes: (0..25).map(|i| format!("note {i}")).collect(),
    };
    run(step(&b, "run_1", |_, _| async { Ok(s) })).unwrap();
    assert_eq!(stored(&b, "run_1").0.errors.len(), MAX_ERRORS);
    b
}
