use super::*;
use crate::domain::test_support::block_on;
use proptest::prelude::*;
use std::cell::{Cell, RefCell};

/// Stripe's events (id, created) in list order (newest first, as Stripe lists), a saved
/// position, and what was recorded. Pages hold `per_page` events; a cursor is the last id.
#[derive(Default)]
struct Api {
    events: Vec<(String, i64)>,
    per_page: usize,
    saved: RefCell<String>,
    recorded: RefCell<Vec<String>>,
    gaps: RefCell<Vec<i64>>,
    woken: Cell<u32>,
    pages: Cell<u32>,
    /// Every page read fails.
    broken: bool,
    /// A cursor Stripe no longer knows.
    unknown: Option<String>,
    /// The list hands back the cursor it was given.
    stuck: bool,
}

#[derive(Debug, PartialEq)]
struct Broken;

impl EventsApi for Api {
    type Error = Broken;
    type Client = ();
    type Page = Vec<String>;
    async fn position(&self) -> Result<String, Broken> {
        Ok(self.saved.borrow().clone())
    }
    async fn save(&self, position: &str) -> Result<(), Broken> {
        *self.saved.borrow_mut() = position.to_owned();
        Ok(())
    }
    async fn gap(&self, since: i64, _: i64) -> Result<(), Broken> {
        self.gaps.borrow_mut().push(since);
        Ok(())
    }
    async fn client(&self) -> Result<(), Broken> {
        Ok(())
    }
    async fn page(
        &self,
        _: &(),
        since: i64,
        upto: i64,
        after: Option<&str>,
    ) -> Result<EventsPage<Vec<String>>, PageError<Broken>> {
        self.pages.set(self.pages.get() + 1);
        if self.broken {
            return Err(PageError::Failed(Broken));
        }
        if after.is_some() && after == self.unknown.as_deref() {
            return Err(PageError::Gone(Broken));
        }
        if self.stuck {
            return Ok(EventsPage {
                events: Vec::new(),
                next: Some(after.unwrap_or("evt_x").to_owned()),
            });
        }
        let window: Vec<&(String, i64)> = self
            .events
            .iter()
            .filter(|(_, t)| (since..=upto).contains(t))
            .collect();
        let start = match after {
            Some(a) => window
                .iter()
                .position(|(id, _)| id == a)
                .map_or(0, |i| i + 1),
            None => 0,
        };
        let page: Vec<String> = window
            .iter()
            .skip(start)
            .take(self.per_page)
            .map(|(id, _)| id.clone())
            .collect();
        let next = (start + page.len() < window.len())
            .then(|| page.last().cloned())
            .flatten();
        Ok(EventsPage { events: page, next })
    }
    async fn record(&self, page: &Vec<String>) -> Result<u32, Broken> {
        let mut recorded = self.recorded.borrow_mut();
        let mut n = 0;
        for id in page {
            if !recorded.contains(id) {
                recorded.push(id.clone());
                n += 1;
            }
        }
        Ok(n)
    }
    async fn pause(&self) {}
    async fn wake(&self) -> Result<(), Broken> {
        self.woken.set(self.woken.get() + 1);
        Ok(())
    }
}

const NOW: i64 = 1_700_000_000;

fn api(events: &[(&str, i64)], per_page: usize) -> Api {
    Api {
        events: events
            .iter()
            .map(|(id, t)| ((*id).to_owned(), *t))
            .collect(),
        per_page,
        ..Default::default()
    }
}

fn saved(a: &Api) -> Walk {
    serde_json::from_str(&a.saved.borrow()).expect("a walk")
}

#[test]
fn a_first_look_goes_an_hour_back_records_and_wakes() {
    let a = api(&[("evt_new", NOW - 10), ("evt_old", NOW - 7_200)], 10);
    let out = block_on(recover(&a, NOW)).expect("recover");
    assert_eq!(
        out,
        Recovered {
            events: 1,
            unrecoverable: false
        }
    );
    assert_eq!(*a.recorded.borrow(), ["evt_new"]);
    assert_eq!(a.woken.get(), 1);
    assert_eq!(
        saved(&a),
        Walk {
            since: NOW - OVERLAP_SECS,
            upto: None,
            after: None
        }
    );
}

#[test]
fn nothing_new_wakes_nothing() {
    let a = api(&[], 10);
    let out = block_on(recover(&a, NOW)).expect("recover");
    assert_eq!(out.events, 0);
    assert_eq!(a.woken.get(), 0);
}

#[test]
fn a_bare_number_saved_is_the_walks_start() {
    assert_eq!(
        Walk::load("123", NOW),
        Walk {
            since: 123,
            upto: None,
            after: None
        }
    );
    assert_eq!(Walk::load("", NOW).since, NOW - FIRST_LOOK_SECS);
    let w = Walk {
        since: 5,
        upto: Some(9),
        after: Some("evt_1".into()),
    };
    assert_eq!(Walk::load(&w.saved(), NOW), w);
}

#[test]
fn a_long_walk_goes_on_from_its_saved_position_at_the_next_tick() {
    let events: Vec<(String, i64)> = (0..(RECOVERY_PAGES as i64 * 2 + 5))
        .map(|i| (format!("evt_{i:04}"), NOW - 100 - i))
        .collect();
    let refs: Vec<(&str, i64)> = events.iter().map(|(id, t)| (id.as_str(), *t)).collect();
    let a = api(&refs, 1);
    block_on(recover(&a, NOW)).expect("recover");
    let mid = saved(&a);
    assert_eq!(mid.upto, Some(NOW));
    assert_eq!(
        mid.after.as_deref(),
        Some(events[RECOVERY_PAGES as usize - 1].0.as_str())
    );
    // Later ticks keep the same upper bound until the walk is done.
    block_on(recover(&a, NOW + 60)).expect("recover");
    block_on(recover(&a, NOW + 120)).expect("recover");
    assert_eq!(a.recorded.borrow().len(), events.len());
    assert_eq!(
        saved(&a),
        Walk {
            since: NOW - OVERLAP_SECS,
            upto: None,
            after: None
        }
    );
}

#[test]
fn a_gap_older_than_stripe_keeps_is_reported_once_and_the_walk_starts_from_now() {
    let a = api(&[("evt_1", NOW - 10)], 10);
    let old = NOW - EVENTS_KEPT_SECS - 1;
    *a.saved.borrow_mut() = Walk {
        since: old,
        upto: None,
        after: None,
    }
    .saved();
    let out = block_on(recover(&a, NOW)).expect("recover");
    assert!(out.unrecoverable);
    assert_eq!(*a.gaps.borrow(), [old]);
    assert_eq!(out.events, 1, "the recent window is still read");
    block_on(recover(&a, NOW + 60)).expect("recover");
    assert_eq!(a.gaps.borrow().len(), 1);
}

#[test]
fn a_gap_is_saved_before_a_failing_page() {
    let mut a = api(&[], 10);
    a.broken = true;
    *a.saved.borrow_mut() = "1".to_owned();
    assert!(block_on(recover(&a, NOW)).is_err());
    assert_eq!(saved(&a).since, NOW - OVERLAP_SECS);
}

#[test]
fn an_unknown_cursor_walks_the_window_again_from_its_start() {
    let mut a = api(&[("evt_1", NOW - 10)], 10);
    a.unknown = Some("evt_gone".into());
    *a.saved.borrow_mut() = Walk {
        since: NOW - 100,
        upto: Some(NOW),
        after: Some("evt_gone".into()),
    }
    .saved();
    let out = block_on(recover(&a, NOW)).expect("recover");
    assert_eq!(out.events, 1);
    assert_eq!(a.pages.get(), 2);
}

#[test]
fn a_cursor_that_does_not_move_ends_the_list() {
    let mut a = api(&[], 10);
    a.stuck = true;
    block_on(recover(&a, NOW)).expect("recover");
    assert_eq!(a.pages.get(), 2);
    assert_eq!(saved(&a).after, None, "finished");
}

#[test]
fn a_failing_page_is_an_error_and_saves_nothing_new() {
    let mut a = api(&[], 10);
    a.broken = true;
    let before = Walk {
        since: NOW - 100,
        upto: None,
        after: None,
    }
    .saved();
    *a.saved.borrow_mut() = before.clone();
    assert_eq!(block_on(recover(&a, NOW)), Err(Broken));
    assert_eq!(*a.saved.borrow(), before);
}

proptest! {
    /// However the events fall into pages, a walk run to its end records each event of its
    /// window once, and the next starts `OVERLAP_SECS` before its end.
    #[test]
    fn every_event_of_the_window_is_recorded_once(
        ages in proptest::collection::vec(0i64..3_000, 0..40),
        per_page in 1usize..7,
    ) {
        let events: Vec<(String, i64)> =
            ages.iter().enumerate().map(|(i, age)| (format!("evt_{i:03}"), NOW - age)).collect();
        let refs: Vec<(&str, i64)> = events.iter().map(|(id, t)| (id.as_str(), *t)).collect();
        let a = api(&refs, per_page);
        let out = block_on(recover(&a, NOW)).expect("recover");
        let in_window = ages.iter().filter(|age| **age <= FIRST_LOOK_SECS).count();
        prop_assert_eq!(out.events as usize, in_window);
        prop_assert_eq!(a.recorded.borrow().len(), in_window);
        prop_assert_eq!(saved(&a).since, NOW - OVERLAP_SECS);
    }
}
