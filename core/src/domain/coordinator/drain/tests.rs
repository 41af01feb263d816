use super::super::fakes::{alarm_through_field, Broken, FakeAlarm};
use super::*;
use crate::domain::test_support::block_on;
use proptest::prelude::*;
use std::cell::{Cell, RefCell};

#[derive(Default)]
struct Slot {
    alarm: FakeAlarm,
    gen: Cell<Option<i64>>,
}

alarm_through_field!(Slot);

impl DrainSlot for Slot {
    fn generation(&self) -> Result<Option<i64>, Broken> {
        self.alarm.switch.check()?;
        Ok(self.gen.get())
    }
    type Target = ();
    fn bump(&self, _: &()) -> Result<(), Broken> {
        self.alarm.switch.check()?;
        self.gen.set(Some(self.gen.get().map_or(0, |g| g + 1)));
        Ok(())
    }
    fn forget(&self, gen: i64) -> Result<(), Broken> {
        self.alarm.switch.check()?;
        if self.gen.get() == Some(gen) {
            self.gen.set(None);
        }
        Ok(())
    }
}

/// A drain that answers from a script; `wakes_during` wakes the slot while it runs.
struct Drain<'a> {
    slot: &'a Slot,
    answers: RefCell<Vec<Result<Option<i64>, &'static str>>>,
    wakes_during: Cell<u32>,
    drained: Cell<u32>,
}

impl<'a> Drain<'a> {
    fn new(slot: &'a Slot, answers: Vec<Result<Option<i64>, &'static str>>) -> Self {
        Drain {
            slot,
            answers: RefCell::new(answers.into_iter().rev().collect()),
            wakes_during: Cell::new(0),
            drained: Cell::new(0),
        }
    }
}

impl Drainer for Drain<'_> {
    type Failure = &'static str;
    async fn drain(&self) -> Result<Option<i64>, &'static str> {
        self.drained.set(self.drained.get() + 1);
        for _ in 0..self.wakes_during.take() {
            self.slot.bump(&()).expect("bump");
        }
        self.answers.borrow_mut().pop().unwrap_or(Ok(None))
    }
    fn report(&self, _: &&'static str) {}
}

#[test]
fn a_wake_is_drained_within_the_coalescing_delay() {
    let slot = Slot::default();
    block_on(wake(&slot, &(), 1_000)).expect("wake");
    block_on(wake(&slot, &(), 1_000)).expect("wake");
    assert_eq!(slot.alarm.at.get(), Some(1_000));
    assert_eq!(slot.gen.get(), Some(1));
}

#[test]
fn without_a_wake_nothing_is_drained() {
    let slot = Slot::default();
    let d = Drain::new(&slot, vec![]);
    block_on(tick(&slot, &d, 0)).expect("tick");
    assert_eq!(d.drained.get(), 0);
    assert_eq!(slot.alarm.at.get(), None);
}

#[test]
fn a_drain_with_nothing_left_forgets_the_wake() {
    let slot = Slot::default();
    slot.bump(&()).expect("bump");
    let d = Drain::new(&slot, vec![Ok(None)]);
    block_on(tick(&slot, &d, 0)).expect("tick");
    assert_eq!(slot.gen.get(), None);
    assert_eq!(slot.alarm.at.get(), None);
}

#[test]
fn rows_waiting_set_the_alarm_for_when_they_are_due() {
    let slot = Slot::default();
    slot.bump(&()).expect("bump");
    let d = Drain::new(&slot, vec![Ok(Some(15_000))]);
    block_on(tick(&slot, &d, 5_000)).expect("tick");
    assert_eq!(slot.alarm.at.get(), Some(10_000));
    assert!(slot.gen.get().is_some(), "still woken");
}

#[test]
fn a_failed_drain_is_tried_again_in_thirty_seconds() {
    let slot = Slot::default();
    slot.bump(&()).expect("bump");
    let d = Drain::new(&slot, vec![Err("d1")]);
    block_on(tick(&slot, &d, 0)).expect("tick");
    assert_eq!(slot.alarm.at.get(), Some(30_000));
    assert!(slot.gen.get().is_some());
}

#[test]
fn a_broken_slot_is_an_error_of_the_tick() {
    let slot = Slot::default();
    slot.bump(&()).expect("bump");
    slot.alarm.switch.brk();
    let d = Drain::new(&slot, vec![Ok(None)]);
    assert_eq!(block_on(tick(&slot, &d, 0)), Err(Broken));
}

proptest! {
    /// However wakes interleave with drains, a wake that arrives during a drain is drained
    /// again afterwards: the coordinator stops being woken only after a drain that began after
    /// the last wake.
    #[test]
    fn no_wake_is_lost(wakes in proptest::collection::vec(0u32..3, 1..12)) {
        let slot = Slot::default();
        slot.bump(&()).expect("bump");
        let d = Drain::new(&slot, vec![]);
        let mut last_wake_drained = false;
        for w in &wakes {
            if slot.gen.get().is_none() {
                // A wake between two alarms.
                slot.bump(&()).expect("bump");
            }
            d.wakes_during.set(*w);
            slot.alarm.at.set(None);
            block_on(tick(&slot, &d, 0)).expect("tick");
            last_wake_drained = *w == 0;
            if *w > 0 {
                // Woken during the drain: still woken, and drained again at once.
                prop_assert!(slot.gen.get().is_some());
                prop_assert_eq!(slot.alarm.at.get(), Some(0));
            }
        }
        prop_assert_eq!(slot.gen.get().is_none(), last_wake_drained);
    }
}
