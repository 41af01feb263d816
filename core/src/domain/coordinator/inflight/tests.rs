use super::super::fakes::{alarm_through_field, Broken, FakeAlarm};
use super::*;
use crate::domain::test_support::block_on;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// The kept approvals in memory; tokens count up.
#[derive(Default)]
struct Store {
    alarm: FakeAlarm,
    kept: RefCell<BTreeMap<String, (i64, String)>>,
    tokens: Cell<u32>,
    /// Repairs whose take-over the store fails.
    refuse_take_over: Vec<&'static str>,
}

impl Store {
    fn fresh(&self) -> String {
        self.tokens.set(self.tokens.get() + 1);
        format!("t{}", self.tokens.get())
    }
}

alarm_through_field!(Store);

impl InflightStore for Store {
    type Of = ();
    fn track(&self, repair: &str, _: &(), now: i64) -> Result<String, Broken> {
        self.alarm.switch.check()?;
        let fresh = self.fresh();
        let mut kept = self.kept.borrow_mut();
        Ok(kept
            .entry(repair.to_owned())
            .or_insert((now, fresh))
            .1
            .clone())
    }
    fn token(&self, repair: &str) -> Result<Option<String>, Broken> {
        self.alarm.switch.check()?;
        Ok(self.kept.borrow().get(repair).map(|k| k.1.clone()))
    }
    fn take_over(&self, repair: &str) -> Result<(), Broken> {
        self.alarm.switch.check()?;
        if self.refuse_take_over.contains(&repair) {
            return Err(Broken);
        }
        let fresh = self.fresh();
        if let Some(k) = self.kept.borrow_mut().get_mut(repair) {
            k.1 = fresh;
        }
        Ok(())
    }
    fn untrack(&self, repair: &str) -> Result<(), Broken> {
        self.alarm.switch.check()?;
        self.kept.borrow_mut().remove(repair);
        Ok(())
    }
    fn all(&self) -> Result<Vec<Inflight<()>>, Broken> {
        self.alarm.switch.check()?;
        Ok(self
            .kept
            .borrow()
            .iter()
            .map(|(r, (started, _))| Inflight {
                repair: r.clone(),
                started: *started,
                of: (),
            })
            .collect())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Fail {
    Refused(RepairRefusal),
    Store,
    Db,
}

impl From<RepairRefusal> for Fail {
    fn from(r: RepairRefusal) -> Self {
        Fail::Refused(r)
    }
}

impl From<Broken> for Fail {
    fn from(_: Broken) -> Self {
        Fail::Store
    }
}

/// An approval: `begins` false fails before claiming; `ends` how it ends; `unfinished` what the
/// status read says; `during` runs inside the approval (a recovery taking it over, say).
struct Work<'a> {
    begins: bool,
    ends: Result<&'static str, Fail>,
    unfinished: bool,
    during: Box<dyn Fn() + 'a>,
    ours_when_asked: Cell<Option<bool>>,
    reported: RefCell<Vec<Fail>>,
}

impl Default for Work<'_> {
    fn default() -> Self {
        Work {
            begins: true,
            ends: Ok("verified"),
            unfinished: false,
            during: Box::new(|| {}),
            ours_when_asked: Cell::new(None),
            reported: RefCell::new(Vec::new()),
        }
    }
}

impl ApprovalWork for Work<'_> {
    type Failure = Fail;
    type View = &'static str;
    async fn approve(
        &self,
        still_ours: &dyn Fn() -> bool,
    ) -> Result<Result<&'static str, Fail>, Fail> {
        if !self.begins {
            return Err(Fail::Db);
        }
        (self.during)();
        self.ours_when_asked.set(Some(still_ours()));
        Ok(self.ends.clone())
    }
    async fn unfinished(&self) -> bool {
        self.unfinished
    }
    fn report(&self, e: &Fail) {
        self.reported.borrow_mut().push(e.clone());
    }
}

const AFTER: i64 = 120_000;

fn approve_now<'a>(
    store: &Store,
    approving: &Approving,
    work: &Work<'a>,
) -> Result<&'static str, Fail> {
    block_on(approve(store, approving, work, "rep_1", &(), 1_000, AFTER))
}

#[test]
fn a_recorded_approval_is_forgotten_and_its_recovery_alarm_set() {
    let (store, approving, work) = (Store::default(), Approving::default(), Work::default());
    assert_eq!(approve_now(&store, &approving, &work), Ok("verified"));
    assert!(store.kept.borrow().is_empty());
    assert_eq!(store.alarm.at.get(), Some(AFTER));
    assert_eq!(work.ours_when_asked.get(), Some(true));
    assert!(!approving.contains("rep_1"));
}

#[test]
fn an_approval_whose_outcome_may_be_unrecorded_stays_kept() {
    let store = Store::default();
    let work = Work {
        ends: Err(Fail::Store),
        unfinished: true,
        ..Default::default()
    };
    assert_eq!(
        approve_now(&store, &Approving::default(), &work),
        Err(Fail::Store)
    );
    assert!(store.kept.borrow().contains_key("rep_1"));
    assert_eq!(*work.reported.borrow(), [Fail::Store]);
}

#[test]
fn an_approval_that_could_not_begin_stays_kept_for_the_recovery() {
    let store = Store::default();
    let work = Work {
        begins: false,
        ..Default::default()
    };
    assert_eq!(
        approve_now(&store, &Approving::default(), &work),
        Err(Fail::Db)
    );
    assert!(store.kept.borrow().contains_key("rep_1"));
}

#[test]
fn a_second_approval_of_a_running_repair_is_refused_before_anything_is_read() {
    let (store, approving) = (Store::default(), Approving::default());
    let _running = approving.start("rep_1").expect("first");
    store.alarm.switch.brk();
    assert_eq!(
        approve_now(&store, &approving, &Work::default()),
        Err(Fail::Refused(RepairRefusal::ApprovalRunning))
    );
}

#[test]
fn an_approval_taken_over_meanwhile_is_no_longer_ours() {
    let store = Store::default();
    let work = Work {
        during: Box::new(|| store.take_over("rep_1").expect("take over")),
        ..Default::default()
    };
    let _ = approve_now(&store, &Approving::default(), &work);
    assert_eq!(work.ours_when_asked.get(), Some(false));
}

#[test]
fn a_broken_store_fails_the_approval_before_it_begins() {
    let store = Store::default();
    store.alarm.switch.brk();
    let work = Work::default();
    assert_eq!(
        approve_now(&store, &Approving::default(), &work),
        Err(Fail::Store)
    );
    assert_eq!(work.ours_when_asked.get(), None, "never began");
}

/// A recovery that fails for the repairs listed.
#[derive(Default)]
struct Recover {
    failing: Vec<&'static str>,
    recovered: RefCell<Vec<String>>,
}

impl RecoverWork<()> for Recover {
    type Failure = Fail;
    async fn recover(&self, a: &Inflight<()>) -> Result<(), Fail> {
        if self.failing.contains(&a.repair.as_str()) {
            return Err(Fail::Db);
        }
        self.recovered.borrow_mut().push(a.repair.clone());
        Ok(())
    }
    fn report(&self, _: &str, _: &Fail) {}
}

fn kept(store: &Store, repair: &str, started: i64) {
    store.track(repair, &(), started).expect("track");
}

#[test]
fn only_approvals_kept_past_the_delay_and_not_running_are_recovered() {
    let (store, approving, work) = (Store::default(), Approving::default(), Recover::default());
    kept(&store, "rep_old", 0);
    kept(&store, "rep_new", 100_000);
    kept(&store, "rep_running", 0);
    let _running = approving.start("rep_running").expect("start");
    block_on(recover(&store, &approving, &work, AFTER, AFTER)).expect("recover");
    assert_eq!(*work.recovered.borrow(), ["rep_old"]);
    let left: Vec<String> = store.kept.borrow().keys().cloned().collect();
    assert_eq!(left, ["rep_new", "rep_running"]);
    assert_eq!(store.alarm.at.get(), Some(AFTER));
}

#[test]
fn a_take_over_the_store_fails_leaves_the_others_recovered_and_the_next_look_set() {
    let store = Store {
        refuse_take_over: vec!["rep_a"],
        ..Default::default()
    };
    let (approving, work) = (Approving::default(), Recover::default());
    kept(&store, "rep_a", 0);
    kept(&store, "rep_b", 0);
    let out = block_on(recover(&store, &approving, &work, AFTER, AFTER));
    assert_eq!(out, Err(Broken));
    assert_eq!(*work.recovered.borrow(), ["rep_b"]);
    let left: Vec<String> = store.kept.borrow().keys().cloned().collect();
    assert_eq!(left, ["rep_a"]);
    assert_eq!(store.alarm.at.get(), Some(AFTER));
}

#[test]
fn a_recovery_takes_the_approval_over_before_it_acts() {
    let (store, approving) = (Store::default(), Approving::default());
    kept(&store, "rep_1", 0);
    let before = store.token("rep_1").expect("token");
    let work = Recover {
        failing: vec!["rep_1"],
        ..Default::default()
    };
    block_on(recover(&store, &approving, &work, AFTER, AFTER)).expect("recover");
    assert_ne!(store.token("rep_1").expect("token"), before);
    // Not finished: kept, and looked at again.
    assert_eq!(store.alarm.at.get(), Some(AFTER));
}

#[test]
fn with_nothing_kept_no_alarm_is_set() {
    let store = Store::default();
    block_on(recover(
        &store,
        &Approving::default(),
        &Recover::default(),
        0,
        AFTER,
    ))
    .expect("recover");
    assert_eq!(store.alarm.at.get(), None);
}

#[test]
fn a_broken_store_is_an_error_of_the_recovery() {
    let store = Store::default();
    kept(&store, "rep_1", 0);
    store.alarm.switch.brk();
    assert_eq!(
        block_on(recover(
            &store,
            &Approving::default(),
            &Recover::default(),
            AFTER,
            AFTER
        )),
        Err(Broken)
    );
}
