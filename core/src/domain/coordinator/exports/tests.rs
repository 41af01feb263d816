use super::super::fakes::{alarm_through_field, Broken, FakeAlarm};
use super::*;
use crate::domain::test_support::block_on;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// The queue in memory, in start order; progress is a count of parts written.
#[derive(Default)]
struct Queue {
    alarm: FakeAlarm,
    rows: RefCell<Vec<Queued<u32, ()>>>,
}

impl Queue {
    fn add(&self, id: &str) {
        self.rows.borrow_mut().push(Queued {
            id: id.to_owned(),
            of: (),
            progress: 0,
            failures: 0,
            next_at: 0,
        });
    }
    fn get(&self, id: &str) -> Option<Queued<u32, ()>> {
        self.rows.borrow().iter().find(|q| q.id == id).cloned()
    }
}

alarm_through_field!(Queue);

impl ExportQueue for Queue {
    type Progress = u32;
    type Of = ();
    fn first(&self) -> Result<Option<Queued<u32, ()>>, Broken> {
        self.alarm.switch.check()?;
        let rows = self.rows.borrow();
        // Stable: equal `next_at` keeps the start order.
        Ok(rows.iter().min_by_key(|q| q.next_at).cloned())
    }
    fn save(&self, id: &str, p: Option<&u32>, failures: i64, next_at: i64) -> Result<(), Broken> {
        self.alarm.switch.check()?;
        let mut rows = self.rows.borrow_mut();
        let q = rows.iter_mut().find(|q| q.id == id).expect("queued");
        if let Some(p) = p {
            q.progress = *p;
        }
        q.failures = failures;
        q.next_at = next_at;
        Ok(())
    }
    fn forget(&self, id: &str) -> Result<(), Broken> {
        self.alarm.switch.check()?;
        self.rows.borrow_mut().retain(|q| q.id != id);
        Ok(())
    }
    fn next_due(&self) -> Result<Option<i64>, Broken> {
        self.alarm.switch.check()?;
        Ok(self.rows.borrow().iter().map(|q| q.next_at).min())
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Fail {
    permanent: bool,
}

impl ExportFailure for Fail {
    fn permanent(&self) -> bool {
        self.permanent
    }
    fn message(&self) -> String {
        "the chain does not verify".to_owned()
    }
}

/// Exports that need `parts` steps each; some fail every step (`failing`), `end` may fail.
#[derive(Default)]
struct Work {
    parts: BTreeMap<&'static str, u32>,
    failing: BTreeMap<&'static str, Fail>,
    end_fails: Cell<bool>,
    ended: RefCell<Vec<(String, String)>>,
    stepped: RefCell<Vec<String>>,
}

impl ExportWork<u32, ()> for Work {
    type Failure = Fail;
    async fn step(&self, id: &str, _: &(), progress: &mut u32) -> Result<Stepped, Fail> {
        self.stepped.borrow_mut().push(id.to_owned());
        // A failing step still moves its progress (a part was uploaded before it failed).
        *progress += 1;
        if let Some(f) = self.failing.get(id) {
            return Err(f.clone());
        }
        Ok(if *progress >= self.parts[id] {
            Stepped::Done
        } else {
            Stepped::More
        })
    }
    async fn end(&self, id: &str, _: &(), why: &str) -> bool {
        if self.end_fails.get() {
            return false;
        }
        self.ended
            .borrow_mut()
            .push((id.to_owned(), why.to_owned()));
        true
    }
    fn report(&self, _: &str, _: &Fail) {}
}

#[test]
fn an_export_steps_until_done_and_is_forgotten() {
    let queue = Queue::default();
    queue.add("exp_a");
    let work = Work {
        parts: [("exp_a", 3)].into(),
        ..Default::default()
    };
    for _ in 0..3 {
        block_on(tick(&queue, &work, 1_000)).expect("tick");
    }
    assert!(queue.rows.borrow().is_empty());
    assert_eq!(work.stepped.borrow().len(), 3);
}

#[test]
fn a_failing_export_backs_off_saving_its_progress_while_the_next_goes_on() {
    let queue = Queue::default();
    queue.add("exp_bad");
    queue.add("exp_ok");
    let work = Work {
        parts: [("exp_ok", 2)].into(),
        failing: [("exp_bad", Fail { permanent: false })].into(),
        ..Default::default()
    };
    block_on(tick(&queue, &work, 10_000)).expect("tick");
    let bad = queue.get("exp_bad").expect("kept");
    assert_eq!((bad.failures, bad.next_at, bad.progress), (1, 12_000, 1));
    // The other export is due now: the alarm is for it (and fires).
    assert_eq!(queue.alarm.at.take(), Some(0));
    block_on(tick(&queue, &work, 10_000)).expect("tick");
    assert_eq!(queue.alarm.at.take(), Some(0));
    block_on(tick(&queue, &work, 10_000)).expect("tick");
    assert!(queue.get("exp_ok").is_none());
    assert_eq!(*work.stepped.borrow(), ["exp_bad", "exp_ok", "exp_ok"]);
    // Only the failing one is left, due in 2 s.
    assert_eq!(queue.alarm.at.get(), Some(2_000));
}

#[test]
fn an_export_not_yet_due_only_sets_the_alarm() {
    let queue = Queue::default();
    queue.add("exp_a");
    queue.save("exp_a", None, 1, 5_000).expect("save");
    let work = Work::default();
    block_on(tick(&queue, &work, 1_000)).expect("tick");
    assert!(work.stepped.borrow().is_empty());
    assert_eq!(queue.alarm.at.get(), Some(4_000));
}

#[test]
fn the_fifth_failure_ends_the_export_failed() {
    let queue = Queue::default();
    queue.add("exp_a");
    let work = Work {
        failing: [("exp_a", Fail { permanent: false })].into(),
        ..Default::default()
    };
    let mut now = 0;
    for _ in 0..5 {
        now = queue.get("exp_a").map_or(now, |q| q.next_at.max(now));
        block_on(tick(&queue, &work, now)).expect("tick");
    }
    assert_eq!(
        *work.ended.borrow(),
        [("exp_a".to_owned(), GIVE_UP.to_owned())]
    );
    assert!(queue.rows.borrow().is_empty());
    assert_eq!(work.stepped.borrow().len(), 5);
}

#[test]
fn a_permanent_failure_ends_the_export_at_once_saying_why() {
    let queue = Queue::default();
    queue.add("exp_a");
    let work = Work {
        failing: [("exp_a", Fail { permanent: true })].into(),
        ..Default::default()
    };
    block_on(tick(&queue, &work, 0)).expect("tick");
    assert_eq!(
        *work.ended.borrow(),
        [("exp_a".to_owned(), "the chain does not verify".to_owned())]
    );
}

#[test]
fn an_export_that_cannot_be_ended_retries_only_its_ending_every_ten_minutes() {
    let queue = Queue::default();
    queue.add("exp_a");
    let work = Work {
        failing: [("exp_a", Fail { permanent: true })].into(),
        ..Default::default()
    };
    work.end_fails.set(true);
    block_on(tick(&queue, &work, 1_000)).expect("tick");
    let q = queue.get("exp_a").expect("kept");
    // Its progress is not saved on this path: the failed step's part is not counted.
    assert_eq!(
        (q.failures, q.next_at, q.progress),
        (MAX_FAILURES, 601_000, 0)
    );
    assert_eq!(queue.alarm.at.get(), Some(END_RETRY_MS));
}

#[test]
fn a_broken_queue_is_an_error_of_the_tick() {
    let queue = Queue::default();
    queue.add("exp_a");
    queue.alarm.switch.brk();
    assert_eq!(block_on(tick(&queue, &Work::default(), 0)), Err(Broken));
}
