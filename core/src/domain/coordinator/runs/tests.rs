use super::super::fakes::{alarm_through_field, Broken, FakeAlarm};
use super::super::{backoff_ms, MAX_FAILURES};
use super::*;
use crate::domain::test_support::block_on;
use std::cell::{Cell, RefCell};

/// The coordinator's run record in memory.
#[derive(Default)]
struct Slot {
    alarm: FakeAlarm,
    failures: Cell<i64>,
    forgotten: RefCell<Vec<String>>,
}

alarm_through_field!(Slot);

impl RunSlot for Slot {
    fn set_failures(&self, n: i64) -> Result<(), Broken> {
        self.alarm.switch.check()?;
        self.failures.set(n);
        Ok(())
    }
    fn forget(&self, run: &str) -> Result<(), Broken> {
        self.alarm.switch.check()?;
        self.forgotten.borrow_mut().push(run.to_owned());
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Oops(&'static str);

/// A run whose steps answer from a script; `abandon` succeeds unless told otherwise.
#[derive(Default)]
struct Work {
    steps: RefCell<Vec<Result<Next, StepFailure<Oops>>>>,
    abandon_fails: Cell<bool>,
    abandoned: RefCell<Vec<String>>,
    reported: RefCell<Vec<Oops>>,
}

impl Work {
    fn scripted(steps: Vec<Result<Next, StepFailure<Oops>>>) -> Self {
        let w = Work::default();
        *w.steps.borrow_mut() = steps.into_iter().rev().collect();
        w
    }
}

impl RunWork for Work {
    type Failure = Oops;
    async fn step(&self) -> Result<Next, StepFailure<Oops>> {
        self.steps.borrow_mut().pop().expect("a scripted step")
    }
    async fn abandon(&self, message: &str) -> Result<(), Oops> {
        if self.abandon_fails.get() {
            return Err(Oops("d1"));
        }
        self.abandoned.borrow_mut().push(message.to_owned());
        Ok(())
    }
    fn report(&self, e: &Oops) {
        self.reported.borrow_mut().push(e.clone());
    }
}

/// Drives the run through the script, each tick from the failures the slot recorded.
fn drive(slot: &Slot, work: &Work, ticks: usize) {
    for _ in 0..ticks {
        let failures = slot.failures.get();
        block_on(tick(slot, work, "run_1", failures)).expect("storage works");
    }
}

#[test]
fn a_step_that_goes_on_is_followed_at_once() {
    let (slot, work) = (Slot::default(), Work::scripted(vec![Ok(Next::More)]));
    drive(&slot, &work, 1);
    assert_eq!(slot.alarm.at.get(), Some(0));
    assert!(slot.forgotten.borrow().is_empty());
}

#[test]
fn a_finished_run_is_forgotten_and_no_alarm_is_set() {
    let (slot, work) = (Slot::default(), Work::scripted(vec![Ok(Next::Stop)]));
    drive(&slot, &work, 1);
    assert_eq!(*slot.forgotten.borrow(), ["run_1"]);
    assert_eq!(slot.alarm.at.get(), None);
}

#[test]
fn failures_back_off_and_the_fifth_gives_the_run_up() {
    let failed = || Err(StepFailure::Failed(Oops("d1")));
    let work = Work::scripted((0..5).map(|_| failed()).collect());
    let slot = Slot::default();
    let mut delays = Vec::new();
    for _ in 0..4 {
        drive(&slot, &work, 1);
        delays.push(slot.alarm.at.take().expect("an alarm"));
    }
    assert_eq!(delays, [2_000, 4_000, 8_000, 16_000]);
    assert_eq!(slot.failures.get(), 4);
    drive(&slot, &work, 1);
    assert_eq!(*work.abandoned.borrow(), [GIVE_UP]);
    assert_eq!(*slot.forgotten.borrow(), ["run_1"]);
    assert_eq!(work.reported.borrow().len(), 5);
}

#[test]
fn a_success_resets_the_failures() {
    let work = Work::scripted(vec![
        Err(StepFailure::Failed(Oops("d1"))),
        Err(StepFailure::Failed(Oops("d1"))),
        Ok(Next::More),
        Err(StepFailure::Failed(Oops("d1"))),
    ]);
    let slot = Slot::default();
    drive(&slot, &work, 3);
    assert_eq!(slot.failures.get(), 0);
    drive(&slot, &work, 1);
    assert_eq!((slot.failures.get(), slot.alarm.at.get()), (1, Some(2_000)));
}

#[test]
fn a_run_that_cannot_be_ended_is_kept_and_tried_again_later() {
    let work = Work::scripted(vec![Err(StepFailure::Failed(Oops("d1")))]);
    work.abandon_fails.set(true);
    let slot = Slot::default();
    slot.failures.set(MAX_FAILURES - 1);
    drive(&slot, &work, 1);
    assert!(slot.forgotten.borrow().is_empty());
    assert_eq!(slot.failures.get(), MAX_FAILURES);
    assert_eq!(slot.alarm.at.get(), Some(backoff_ms(MAX_FAILURES)));
}

#[test]
fn an_unreachable_project_is_looked_at_again_in_thirty_seconds_without_a_failure() {
    let work = Work::scripted(vec![Err(StepFailure::Unreached(Oops("vault")))]);
    let slot = Slot::default();
    drive(&slot, &work, 1);
    assert_eq!(slot.alarm.at.get(), Some(30_000));
    assert_eq!(slot.failures.get(), 0);
    assert_eq!(*work.reported.borrow(), [Oops("vault")]);
}

#[test]
fn a_broken_store_is_an_error_of_the_tick() {
    let work = Work::scripted(vec![Ok(Next::More)]);
    let slot = Slot::default();
    slot.alarm.switch.brk();
    assert_eq!(block_on(tick(&slot, &work, "run_1", 2)), Err(Broken));
}
