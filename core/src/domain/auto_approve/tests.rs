use super::*;
use crate::domain::approval::Stop;
use crate::domain::coordinator::Alarm;
use crate::domain::mapping::MappingInput;
use crate::domain::repairs::ColumnChange;
use crate::domain::test_support::{block_on, pending_repair, premium};
use proptest::prelude::*;
use std::cell::{Cell, RefCell};

fn mapping() -> Mapping {
    let input: MappingInput =
        serde_json::from_value(crate::domain::mapping::tests_sample()).expect("sample");
    input.validate().expect("valid")
}

/// A pending repair of `incident` setting `is_premium` to `to`, stored as a grant (selection
/// judges it by the current mapping, not by what it was stored as).
fn repair(id: &str, incident: &str, to: bool) -> Repair {
    pending_repair(id, incident, Effect::Grant, premium(to))
}

#[derive(Debug, Clone, PartialEq)]
struct Broken;

/// The project's pending repairs (in id order) and setbacks in memory.
struct Store {
    mapping: Option<Mapping>,
    pending: Vec<Repair>,
    setbacks: Vec<(String, RepairStatus)>,
    broken: bool,
    pages_read: Cell<usize>,
}

impl Store {
    fn new(pending: Vec<Repair>) -> Self {
        Store {
            mapping: Some(mapping()),
            pending,
            setbacks: Vec::new(),
            broken: false,
            pages_read: Cell::new(0),
        }
    }
}

impl PendingGrants for Store {
    type Error = Broken;
    async fn mapping(&self) -> Result<Option<Mapping>, Broken> {
        if self.broken {
            return Err(Broken);
        }
        Ok(self.mapping.clone())
    }
    async fn pending(&self, after: &str, limit: u32) -> Result<Vec<Repair>, Broken> {
        self.pages_read.set(self.pages_read.get() + 1);
        Ok(self
            .pending
            .iter()
            .filter(|r| r.id.as_str() > after)
            .take(limit as usize)
            .cloned()
            .collect())
    }
    /// Every repair here is of `cus_1` (`pending_repair`): its setbacks are all of them.
    async fn setbacks(&self, customers: &[String]) -> Result<Vec<(String, RepairStatus)>, Broken> {
        if !customers.iter().any(|c| c == "cus_1") {
            return Ok(Vec::new());
        }
        Ok(self.setbacks.clone())
    }
}

fn ids(rs: &[Repair]) -> Vec<&str> {
    rs.iter().map(|r| r.id.as_str()).collect()
}

#[test]
fn only_grants_are_selected() {
    let store = Store::new(vec![
        repair("rep_1", "inc_1", true),
        repair("rep_2", "inc_2", false),
        repair("rep_3", "inc_3", true),
    ]);
    let (picked, more) = block_on(select(&store)).expect("select");
    assert_eq!(ids(&picked), ["rep_1", "rep_3"]);
    assert!(!more);
}

#[test]
fn a_grant_whose_incident_had_a_repair_fail_or_go_stale_three_times_is_left_to_a_person() {
    let mut store = Store::new(vec![
        repair("rep_1", "inc_failed", true),
        repair("rep_2", "inc_stale2", true),
        repair("rep_3", "inc_stale3", true),
    ]);
    store.setbacks = vec![
        ("inc_failed".into(), RepairStatus::Failed),
        ("inc_stale2".into(), RepairStatus::Stale),
        ("inc_stale2".into(), RepairStatus::Stale),
        ("inc_stale3".into(), RepairStatus::Stale),
        ("inc_stale3".into(), RepairStatus::Stale),
        ("inc_stale3".into(), RepairStatus::Stale),
    ];
    let (picked, _) = block_on(select(&store)).expect("select");
    assert_eq!(ids(&picked), ["rep_2"]);
}

#[test]
fn a_customer_repair_that_grants_one_column_and_takes_another_is_never_selected() {
    let sso_off = ColumnChange {
        column: "feature_sso".into(),
        before: serde_json::json!(true),
        after: serde_json::json!(false),
    };
    let mut mixed = repair("rep_1", "inc_1", true);
    mixed.changes.push(sso_off);
    mixed.incident_ids = vec!["inc_1".into(), "inc_2".into()];
    // Stored as a grant or not, the current mapping reads it as a change.
    assert_eq!(effect(&mapping(), &mixed.changes), Effect::Change);
    let mut both = repair("rep_2", "inc_3", true);
    both.changes.push(ColumnChange {
        column: "feature_sso".into(),
        before: serde_json::json!(false),
        after: serde_json::json!(true),
    });
    both.incident_ids = vec!["inc_3".into(), "inc_4".into()];
    let store = Store::new(vec![mixed, both]);
    let (picked, _) = block_on(select(&store)).expect("select");
    assert_eq!(ids(&picked), ["rep_2"]);
}

#[test]
fn a_customer_grant_naming_an_incident_whose_repair_failed_is_left_to_a_person() {
    let mut r = repair("rep_1", "inc_1", true);
    r.incident_ids = vec!["inc_1".into(), "inc_2".into()];
    let mut store = Store::new(vec![r]);
    store.setbacks = vec![("inc_2".into(), RepairStatus::Failed)];
    assert!(block_on(select(&store)).expect("select").0.is_empty());
    store.setbacks = vec![("inc_9".into(), RepairStatus::Failed)];
    assert_eq!(block_on(select(&store)).expect("select").0.len(), 1);
}

#[test]
fn at_most_five_a_round_and_more_is_said_to_wait() {
    let store = Store::new(
        (0..7)
            .map(|i| repair(&format!("rep_{i}"), &format!("inc_{i}"), true))
            .collect(),
    );
    let (picked, more) = block_on(select(&store)).expect("select");
    assert_eq!(picked.len(), PER_ALARM);
    assert!(more);
}

#[test]
fn without_a_mapping_nothing_is_selected() {
    let mut store = Store::new(vec![repair("rep_1", "inc_1", true)]);
    store.mapping = None;
    assert_eq!(
        block_on(select(&store)).expect("select"),
        (Vec::new(), false)
    );
}

#[test]
fn a_broken_store_is_an_error_of_the_selection() {
    let mut store = Store::new(vec![repair("rep_1", "inc_1", true)]);
    store.broken = true;
    assert_eq!(block_on(select(&store)), Err(Broken));
}

#[test]
fn pages_are_read_until_one_is_not_full_and_never_more_than_ten() {
    // Revocations only: nothing is picked, every page is read.
    let store = Store::new(
        (0..(PAGE as usize * 12))
            .map(|i| repair(&format!("rep_{i:05}"), "inc", false))
            .collect(),
    );
    let (picked, more) = block_on(select(&store)).expect("select");
    assert!(picked.is_empty() && !more);
    assert_eq!(store.pages_read.get(), PAGES);
    let short = Store::new(
        (0..70)
            .map(|i| repair(&format!("rep_{i:05}"), "inc", false))
            .collect(),
    );
    block_on(select(&short)).expect("select");
    assert_eq!(short.pages_read.get(), 2);
}

proptest! {
    #[test]
    fn the_person_rule_counts_only_the_incidents_own_setbacks(
        failed in 0usize..3, stale in 0usize..6, others in 0usize..6,
    ) {
        let mut setbacks = Vec::new();
        setbacks.extend((0..failed).map(|_| ("inc_a".to_owned(), RepairStatus::Failed)));
        setbacks.extend((0..stale).map(|_| ("inc_a".to_owned(), RepairStatus::Stale)));
        setbacks.extend((0..others).map(|_| ("inc_b".to_owned(), RepairStatus::Failed)));
        prop_assert_eq!(left_to_a_person("inc_a", &setbacks), failed > 0 || stale >= STALE_LIMIT);
    }
}

// Pacing.

#[derive(Debug, Clone, PartialEq)]
enum Fail {
    Refused(RepairRefusal),
    Db,
}

impl From<RepairRefusal> for Fail {
    fn from(r: RepairRefusal) -> Self {
        Fail::Refused(r)
    }
}
impl From<Stop> for Fail {
    fn from(_: Stop) -> Self {
        Fail::Db
    }
}
impl Failure for Fail {
    fn is_transient(&self) -> bool {
        false
    }
    fn refusal(&self) -> Option<&RepairRefusal> {
        match self {
            Fail::Refused(r) => Some(r),
            Fail::Db => None,
        }
    }
    fn code(&self) -> String {
        "x".into()
    }
    fn message(&self) -> String {
        "x".into()
    }
}

#[derive(Default)]
struct Slot {
    at: Cell<Option<i64>>,
    busy: bool,
    cleared: Cell<bool>,
    broken: bool,
}

impl Alarm for Slot {
    type Error = Broken;
    async fn set(&self, ms: i64) -> Result<(), Broken> {
        self.at.set(Some(ms));
        Ok(())
    }
    async fn within(&self, ms: i64) -> Result<(), Broken> {
        self.at.set(Some(ms));
        Ok(())
    }
}

impl AutoSlot for Slot {
    fn busy(&self) -> Result<bool, Broken> {
        if self.broken {
            return Err(Broken);
        }
        Ok(self.busy)
    }
    fn clear(&self) -> Result<(), Broken> {
        self.cleared.set(true);
        Ok(())
    }
}

/// A round: grants `1..=n`, each approval answering from `answers` (by grant).
struct Round {
    found: Result<(Vec<u32>, bool), Fail>,
    answers: Vec<Result<(), Fail>>,
    approved: RefCell<Vec<u32>>,
    reported: RefCell<Vec<Option<u32>>>,
}

impl Round {
    fn new(found: Result<(Vec<u32>, bool), Fail>, answers: Vec<Result<(), Fail>>) -> Self {
        Round {
            found,
            answers,
            approved: RefCell::default(),
            reported: RefCell::default(),
        }
    }
}

impl AutoWork for Round {
    type Grant = u32;
    type Failure = Fail;
    async fn grants(&self) -> Result<(Vec<u32>, bool), Fail> {
        self.found.clone()
    }
    async fn approve(&self, g: &u32) -> Result<(), Fail> {
        self.approved.borrow_mut().push(*g);
        self.answers[*g as usize].clone()
    }
    fn report(&self, g: Option<&u32>, _: &Fail) {
        self.reported.borrow_mut().push(g.copied());
    }
}

#[test]
fn a_round_with_more_waiting_goes_on_at_once() {
    let (slot, round) = (
        Slot::default(),
        Round::new(Ok((vec![0, 1], true)), vec![Ok(()), Err(Fail::Db)]),
    );
    block_on(tick(&slot, &round)).expect("tick");
    assert_eq!(slot.at.get(), Some(0));
    assert_eq!(*round.reported.borrow(), [Some(1)]);
}

#[test]
fn a_round_whose_every_approval_was_refused_waits_a_minute() {
    let (slot, round) = (
        Slot::default(),
        Round::new(Ok((vec![0, 1], true)), vec![Err(Fail::Db), Err(Fail::Db)]),
    );
    block_on(tick(&slot, &round)).expect("tick");
    assert_eq!(slot.at.get(), Some(IDLE_MS));
}

#[test]
fn the_setting_found_off_ends_the_round() {
    let off = Err(Fail::Refused(RepairRefusal::AutomaticOff));
    let (slot, round) = (
        Slot::default(),
        Round::new(Ok((vec![0, 1, 2], false)), vec![Ok(()), off, Ok(())]),
    );
    block_on(tick(&slot, &round)).expect("tick");
    assert_eq!(*round.approved.borrow(), [0, 1]);
    assert!(round.reported.borrow().is_empty());
}

#[test]
fn with_nothing_left_it_stops_looking_unless_a_run_or_drain_may_suggest_more() {
    let (slot, round) = (Slot::default(), Round::new(Ok((vec![], false)), vec![]));
    block_on(tick(&slot, &round)).expect("tick");
    assert!(slot.cleared.get());
    assert_eq!(slot.at.get(), None);
    let busy = Slot {
        busy: true,
        ..Default::default()
    };
    block_on(tick(&busy, &round)).expect("tick");
    assert!(!busy.cleared.get());
}

#[test]
fn a_round_that_cannot_read_its_grants_is_tried_again_in_thirty_seconds() {
    let (slot, round) = (Slot::default(), Round::new(Err(Fail::Db), vec![]));
    block_on(tick(&slot, &round)).expect("tick");
    assert_eq!(slot.at.get(), Some(UNREACHED_MS));
    assert_eq!(*round.reported.borrow(), [None]);
}

#[test]
fn a_broken_slot_is_an_error_of_the_round() {
    let slot = Slot {
        broken: true,
        ..Default::default()
    };
    let round = Round::new(Ok((vec![], false)), vec![]);
    assert_eq!(block_on(tick(&slot, &round)), Err(Broken));
}
