use super::*;
use crate::domain::ids::{KeyId, MemberId};
use crate::domain::mapping::MappingInput;
use crate::domain::reconcile::{Access, IncidentKind, ItemFacts, SubFacts};
use crate::domain::repairs::ColumnChange;
use crate::domain::test_support::{block_on as run, premium};
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
enum Err {
    /// A store or chain failure that may pass.
    Busy,
    /// The customer's database or Stripe failed (code, message).
    Down(&'static str),
    Refused(RepairRefusal),
    Stop(Stop),
}

impl From<RepairRefusal> for Err {
    fn from(r: RepairRefusal) -> Self {
        Err::Refused(r)
    }
}

impl From<Stop> for Err {
    fn from(s: Stop) -> Self {
        Err::Stop(s)
    }
}

impl Failure for Err {
    fn is_transient(&self) -> bool {
        matches!(self, Err::Busy)
    }
    fn refusal(&self) -> Option<&RepairRefusal> {
        match self {
            Err::Refused(r) => Some(r),
            _ => None,
        }
    }
    fn code(&self) -> String {
        match self {
            Err::Down(code) => (*code).to_owned(),
            other => format!("{other:?}"),
        }
    }
    fn message(&self) -> String {
        format!("{} happened", self.code())
    }
}

/// What happens to the commit of a given number (0 is the first).
enum CommitFault {
    /// Fails before anything is written.
    Before(Err),
    /// Writes, then the answer is lost.
    After(Err),
}

/// What a re-check finds.
#[derive(Clone)]
enum Recheck {
    /// The repair's first incident resolves.
    Resolves,
    /// Every incident resolves.
    ResolvesAll,
    /// It stays open.
    StaysOpen,
    /// It resolves, and an incident of this kind opens.
    NewDrift(IncidentKind),
    Fails,
}

struct Fake {
    repairs: RefCell<BTreeMap<String, Repair>>,
    incidents: RefCell<BTreeMap<String, Incident>>,
    /// (actor, action, status before, status after) of every commit, in order.
    log: RefCell<Vec<(String, Action, RepairStatus, RepairStatus)>>,
    commits: Cell<usize>,
    faults: RefCell<BTreeMap<usize, CommitFault>>,
    stripe: RefCell<Result<Option<StripeCustomer>, Err>>,
    stripe_reads: Cell<u32>,
    outcome: RefCell<Result<Outcome<Err>, Err>>,
    executions: Cell<u32>,
    recheck: RefCell<Recheck>,
    rechecks: Cell<u32>,
    pauses: RefCell<Vec<u64>>,
    clock: Cell<i64>,
}

const RID: &str = "rep_1";
const IID: &str = "inc_1";

fn mapping() -> Mapping {
    let input: MappingInput =
        serde_json::from_value(crate::domain::mapping::tests_sample()).unwrap();
    input.validate().unwrap()
}

fn values(premium: bool) -> AppValues {
    [
        ("plan".to_owned(), json!("pro")),
        ("is_premium".to_owned(), json!(premium)),
    ]
    .into_iter()
    .collect()
}

/// A pending repair setting `is_premium` to `to` (a grant when `to` is true), for an open
/// incident of the matching kind.
fn fake(to: bool) -> Fake {
    let kind = if to {
        IncidentKind::MissingAccess
    } else {
        IncidentKind::UnpaidAccess
    };
    let effect = if to {
        Effect::Grant
    } else {
        Effect::Revocation
    };
    let repair = crate::domain::test_support::pending_repair(RID, IID, effect, premium(to));
    Fake {
        repairs: RefCell::new([(RID.to_owned(), repair)].into()),
        incidents: RefCell::new([(IID.to_owned(), incident(IID, kind))].into()),
        log: RefCell::default(),
        commits: Cell::new(0),
        faults: RefCell::default(),
        // Stripe has the customer with nothing paid: a revocation is still wanted.
        stripe: RefCell::new(Ok(Some(StripeCustomer::default()))),
        stripe_reads: Cell::new(0),
        outcome: RefCell::new(Ok(Outcome::Executed {
            before: values(!to),
            after: values(to),
        })),
        executions: Cell::new(0),
        recheck: RefCell::new(Recheck::Resolves),
        rechecks: Cell::new(0),
        pauses: RefCell::default(),
        clock: Cell::new(100),
    }
}

fn incident(id: &str, kind: IncidentKind) -> Incident {
    let t = Timestamp::from_millis(1);
    Incident {
        id: id.into(),
        kind,
        customer: "cus_1".into(),
        status: IncidentStatus::Open,
        severity: "high".into(),
        expected: None::<Access>,
        actual: None,
        fingerprint: String::new(),
        opened_at: t,
        updated_at: t,
        resolved_at: None,
        reason: None,
        repair_id: Some(RID.into()),
    }
}

impl Fake {
    fn stored(&self) -> Repair {
        self.repairs.borrow()[RID].clone()
    }

    fn actions(&self) -> Vec<(String, Action)> {
        self.log
            .borrow()
            .iter()
            .map(|(a, act, _, _)| (a.clone(), *act))
            .collect()
    }

    fn set_incident(&self, status: IncidentStatus) {
        if let Some(i) = self.incidents.borrow_mut().get_mut(IID) {
            i.status = status;
        }
    }
}

impl Desk for Fake {
    type Error = Err;

    fn now(&self) -> Timestamp {
        self.clock.set(self.clock.get() + 1);
        Timestamp::from_millis(self.clock.get())
    }

    async fn pause(&self, ms: u64) {
        self.pauses.borrow_mut().push(ms);
    }

    async fn repair(&self, id: &str) -> Result<Option<Repair>, Err> {
        Ok(self.repairs.borrow().get(id).cloned())
    }

    async fn incident(&self, id: &str) -> Result<Option<Incident>, Err> {
        Ok(self.incidents.borrow().get(id).cloned())
    }

    async fn commit(&self, id: &str, mv: Move<'_>, decide: Decide<'_, Err>) -> Result<Repair, Err> {
        let n = self.commits.get();
        self.commits.set(n + 1);
        let fault = self.faults.borrow_mut().remove(&n);
        if let Some(CommitFault::Before(e)) = fault {
            return Err(e);
        }
        let before = self
            .repairs
            .borrow()
            .get(id)
            .cloned()
            .ok_or(Stop::NotFound)?;
        let incidents: Vec<Incident> = match mv.check {
            CommitCheck::Claim => before
                .incident_ids
                .iter()
                .filter_map(|i| self.incidents.borrow().get(i).cloned())
                .collect(),
            CommitCheck::Status => Vec::new(),
        };
        let after = decide(&before, &incidents)?;
        self.repairs
            .borrow_mut()
            .insert(id.to_owned(), after.clone());
        self.log
            .borrow_mut()
            .push((mv.actor.render(), mv.action, before.status, after.status));
        match fault {
            Some(CommitFault::After(e)) => Err(e),
            _ => Ok(after),
        }
    }

    async fn stripe(
        &self,
        _m: &Mapping,
        _customer: &str,
    ) -> Result<Option<(StripeCustomer, ProductFeatures)>, Err> {
        self.stripe_reads.set(self.stripe_reads.get() + 1);
        self.stripe
            .borrow()
            .clone()
            .map(|c| c.map(|c| (c, ProductFeatures::new())))
    }

    async fn execute(
        &self,
        _plan: &ExecPlan,
        still_ours: &dyn Fn() -> bool,
    ) -> Result<Outcome<Err>, Err> {
        self.executions.set(self.executions.get() + 1);
        if !still_ours() {
            return Ok(Outcome::Fenced);
        }
        self.outcome.borrow().clone()
    }

    async fn recheck(&self, _customer: &str) -> Result<Vec<Incident>, Err> {
        self.rechecks.set(self.rechecks.get() + 1);
        let found = self.recheck.borrow().clone();
        match found {
            Recheck::Fails => return Err(Err::Down("stripe_unreachable")),
            Recheck::StaysOpen => {}
            Recheck::Resolves => self.set_incident(IncidentStatus::Resolved),
            Recheck::ResolvesAll => {
                for i in self.incidents.borrow_mut().values_mut() {
                    i.status = IncidentStatus::Resolved;
                }
            }
            Recheck::NewDrift(kind) => {
                self.set_incident(IncidentStatus::Resolved);
                self.incidents
                    .borrow_mut()
                    .insert("inc_2".into(), incident("inc_2", kind));
            }
        }
        Ok(self
            .incidents
            .borrow()
            .values()
            .filter(|i| i.status == IncidentStatus::Open)
            .cloned()
            .collect())
    }
}

fn person() -> Approver {
    Approver::Person {
        member: MemberId::parse("mem_0000000000000000000001").unwrap(),
        key: KeyId::parse("key_0000000000000000000001").unwrap(),
    }
}

fn member() -> Actor {
    person().actor()
}

fn by_person() -> Ask {
    Ask {
        repair: RID.into(),
        approver: person(),
    }
}

fn automatic() -> Ask {
    Ask {
        repair: RID.into(),
        approver: Approver::Automatic,
    }
}

fn ours() -> bool {
    true
}

#[test]
fn a_grant_a_person_approves_is_claimed_run_and_verified_in_four_audited_steps() {
    let desk = fake(true);
    let r = run(approve(&desk, &mapping(), &by_person(), &ours)).unwrap();
    assert_eq!(r.status, RepairStatus::Verified);
    assert_eq!(r, desk.stored());
    let who = member().render();
    assert_eq!(
        *desk.log.borrow(),
        vec![
            (
                who.clone(),
                Action::RepairApproved,
                RepairStatus::Pending,
                RepairStatus::Executing
            ),
            (
                "system:repair".into(),
                Action::RepairExecuted,
                RepairStatus::Executing,
                RepairStatus::Executed
            ),
            (
                "system:repair".into(),
                Action::RepairVerified,
                RepairStatus::Executed,
                RepairStatus::Verified
            ),
        ]
    );
    assert_eq!(r.approved_by, Some(who));
    assert_eq!(r.row_before, Some(values(false)));
    assert_eq!(r.row_after, Some(values(true)));
    assert!(r.executed_at.is_some() && r.verified_at.is_some());
    assert_eq!(r.error, None);
    // A grant is never held back, so Stripe is not asked before it runs.
    assert_eq!(desk.stripe_reads.get(), 0);
    assert_eq!((desk.executions.get(), desk.rechecks.get()), (1, 1));
}

#[test]
fn an_automatic_approval_takes_grants_and_is_recorded_as_the_system() {
    let desk = fake(true);
    let r = run(approve(&desk, &mapping(), &automatic(), &ours)).unwrap();
    assert_eq!(r.status, RepairStatus::Verified);
    assert_eq!(r.approved_by.as_deref(), Some("system:auto_approve"));
    assert_eq!(
        desk.actions()[0],
        ("system:auto_approve".into(), Action::RepairApproved)
    );
}

#[test]
fn every_refusal_before_the_claim_writes_nothing_and_opens_nothing() {
    type Setup = fn(&mut Fake, &mut Mapping, &mut Ask);
    let cases: [(&str, Setup, Err); 7] = [
        (
            "already rejected",
            |d, _, _| {
                if let Some(r) = d.repairs.borrow_mut().get_mut(RID) {
                    r.status = RepairStatus::Rejected;
                }
            },
            Err::Refused(RepairRefusal::NotPending("rejected")),
        ),
        (
            "incident resolved meanwhile",
            |d, _, _| d.set_incident(IncidentStatus::Resolved),
            Err::Stop(Stop::IncidentNotOpen),
        ),
        (
            "incident gone",
            |d, _, _| {
                d.incidents.borrow_mut().clear();
            },
            Err::Stop(Stop::IncidentNotOpen),
        ),
        (
            "automatic approval of a revocation",
            |d, _, a| {
                *d = fake(false);
                *a = automatic();
            },
            Err::Refused(RepairRefusal::NeedsAPerson),
        ),
        (
            "no such repair",
            |_, _, a| a.repair = "rep_none".into(),
            Err::Stop(Stop::NotFound),
        ),
        (
            "the mapping moved to another table",
            |_, m, _| {
                let mut j = m.to_json();
                j["table"] = json!("public.users");
                *m = Mapping::from_json(&j).unwrap();
            },
            Err::Refused(RepairRefusal::NotExecutable(
                "the mapping changed since this repair was suggested".into(),
            )),
        ),
        (
            "a column the mapping no longer allows",
            |d, _, _| {
                if let Some(r) = d.repairs.borrow_mut().get_mut(RID) {
                    r.changes[0].column = "stripe_customer_id".into();
                }
            },
            Err::Refused(RepairRefusal::NotExecutable(String::new())),
        ),
    ];
    for (what, setup, want) in cases {
        let mut desk = fake(true);
        let (mut m, mut ask) = (mapping(), by_person());
        setup(&mut desk, &mut m, &mut ask);
        let before = desk.repairs.borrow().clone();
        let got = run(approve(&desk, &m, &ask, &ours)).unwrap_err();
        match (&got, &want) {
            (
                Err::Refused(RepairRefusal::NotExecutable(_)),
                Err::Refused(RepairRefusal::NotExecutable(_)),
            ) => {}
            _ => assert_eq!(got, want, "{what}"),
        }
        assert!(desk.log.borrow().is_empty(), "{what}: nothing audited");
        assert_eq!(*desk.repairs.borrow(), before, "{what}: nothing changed");
        assert_eq!(desk.executions.get(), 0, "{what}: the database not opened");
        assert_eq!(desk.stripe_reads.get(), 0, "{what}");
    }
}

#[test]
fn an_approval_taken_over_before_its_claim_or_its_commit_writes_nothing() {
    let desk = fake(true);
    let never = || false;
    let got = run(approve(&desk, &mapping(), &by_person(), &never)).unwrap_err();
    assert_eq!(got, Err::Refused(RepairRefusal::TakenOver));
    assert!(desk.log.borrow().is_empty());
    assert_eq!(desk.executions.get(), 0);

    // Taken over after the claim: the transaction is fenced and the repair fails as such.
    let desk = fake(true);
    let asked = Cell::new(0);
    let once = || {
        asked.set(asked.get() + 1);
        asked.get() == 1
    };
    let r = run(approve(&desk, &mapping(), &by_person(), &once)).unwrap();
    assert_eq!(r.status, RepairStatus::Failed);
    assert_eq!(
        r.error.as_deref(),
        Some("the approval was taken over before its commit; nothing was written")
    );
    assert_eq!(desk.rechecks.get(), 0);
}

#[test]
fn a_revocation_is_confirmed_against_stripe_and_held_back_when_stripe_no_longer_asks() {
    // The customer paid since the suggestion: premium is expected again.
    let desk = fake(false);
    *desk.stripe.borrow_mut() = Ok(Some(StripeCustomer {
        subscriptions: vec![SubFacts {
            id: "sub_1".into(),
            status: "active".into(),
            items: vec![ItemFacts {
                price: Some("price_pro".into()),
                product: None,
            }],
        }],
        active_entitlements: None,
    }));
    let r = run(approve(&desk, &mapping(), &by_person(), &ours)).unwrap();
    assert_eq!(r.status, RepairStatus::Stale);
    assert!(r
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with("Stripe no longer asks for this change")
            && e.ends_with("; nothing was written")));
    assert_eq!(desk.executions.get(), 0);
    assert_eq!(
        desk.actions()[1],
        ("system:repair".into(), Action::RepairStale)
    );

    // Stripe unreadable: nothing is taken on a guess.
    let desk = fake(false);
    *desk.stripe.borrow_mut() = Err(Err::Down("stripe_unreachable"));
    let r = run(approve(&desk, &mapping(), &by_person(), &ours)).unwrap();
    assert_eq!(r.status, RepairStatus::Stale);
    assert_eq!(
        r.error.as_deref(),
        Some("Stripe could not be read to confirm it (stripe_unreachable); nothing was written")
    );
    assert_eq!(desk.executions.get(), 0);

    // Stripe still asks for it (nothing paid): it runs.
    let desk = fake(false);
    let r = run(approve(&desk, &mapping(), &by_person(), &ours)).unwrap();
    assert_eq!(r.status, RepairStatus::Verified);
    assert_eq!((desk.stripe_reads.get(), desk.executions.get()), (1, 1));
}

#[test]
fn a_revocation_of_a_customer_stripe_does_not_confirm_ends_stale_and_writes_nothing() {
    // A 404 or `deleted: true` (what a swapped or wrong-account key answers too).
    let desk = fake(false);
    *desk.stripe.borrow_mut() = Ok(None);
    let r = run(approve(&desk, &mapping(), &by_person(), &ours)).unwrap();
    assert_eq!(r.status, RepairStatus::Stale);
    assert_eq!(
        r.error.as_deref(),
        Some(
            "Stripe could not confirm the customer (it has no such customer, or it was \
             deleted); nothing was written"
        )
    );
    assert_eq!((desk.stripe_reads.get(), desk.executions.get()), (1, 0));
    assert_eq!(desk.rechecks.get(), 0);
    assert_eq!(
        desk.actions()[1],
        ("system:repair".into(), Action::RepairStale)
    );
    // The incident stays open: nothing resolved it.
    assert_eq!(desk.incidents.borrow()[IID].status, IncidentStatus::Open);

    // A grant of such a customer is not held back (nothing is taken away).
    let desk = fake(true);
    *desk.stripe.borrow_mut() = Ok(None);
    let r = run(approve(&desk, &mapping(), &by_person(), &ours)).unwrap();
    assert_eq!(r.status, RepairStatus::Verified);
    assert_eq!((desk.stripe_reads.get(), desk.executions.get()), (0, 1));
}

#[test]
fn every_end_of_the_transaction_is_recorded_with_what_happened() {
    let live = values(true);
    type Ended = Result<Outcome<Err>, Err>;
    let cases: Vec<(Ended, RepairStatus, &str, u32)> = vec![
        (
            Ok(Outcome::Stale {
                live: live.clone(),
                columns: vec!["is_premium".into()],
            }),
            RepairStatus::Stale,
            "the row changed since the repair was suggested (is_premium); nothing was written",
            0,
        ),
        (
            Ok(Outcome::Missing),
            RepairStatus::Failed,
            "the repair role finds no row with this customer's key (gone, or hidden from it); \
             nothing was written",
            0,
        ),
        (
            Ok(Outcome::Duplicate),
            RepairStatus::Failed,
            "more than one row has this customer's key; nothing was written",
            0,
        ),
        (
            Err(Err::Down("database_timeout")),
            RepairStatus::Failed,
            "database_timeout: database_timeout happened; nothing was written",
            0,
        ),
        (
            Ok(Outcome::Unconfirmed {
                before: values(false),
                after: values(true),
                error: Err::Down("database_unreachable"),
            }),
            RepairStatus::Failed,
            "database_unreachable: database_unreachable happened; the database did not confirm \
             the commit, so the row may or may not have been written; the customer was checked \
             again",
            1,
        ),
    ];
    for (outcome, status, error, rechecks) in cases {
        let desk = fake(true);
        let unconfirmed = matches!(outcome, Ok(Outcome::Unconfirmed { .. }));
        let stale = matches!(outcome, Ok(Outcome::Stale { .. }));
        *desk.outcome.borrow_mut() = outcome;
        let r = run(approve(&desk, &mapping(), &by_person(), &ours)).unwrap();
        assert_eq!((r.status, r.error.as_deref()), (status, Some(error)));
        assert_eq!(desk.rechecks.get(), rechecks, "{error}");
        assert_eq!(
            desk.log.borrow().len(),
            2,
            "claimed and ended, never verified"
        );
        assert!(r.executed_at.is_some() && r.verified_at.is_none());
        if unconfirmed {
            assert_eq!(
                (r.row_before, r.row_after),
                (Some(values(false)), Some(values(true)))
            );
        } else if stale {
            assert_eq!((r.row_before, r.row_after), (Some(live.clone()), None));
        } else {
            assert_eq!((r.row_before, r.row_after), (None, None));
        }
    }
}

#[test]
fn an_outcome_is_recorded_through_transient_failures_and_a_lost_answer_counts_as_recorded() {
    let desk = fake(true);
    // Commit 0 is the claim; 1 and 2 record the outcome: one fails outright, one commits and
    // loses its answer; the third attempt finds the repair already executed.
    desk.faults.borrow_mut().extend([
        (1, CommitFault::Before(Err::Busy)),
        (2, CommitFault::After(Err::Busy)),
    ]);
    let r = run(approve(&desk, &mapping(), &by_person(), &ours)).unwrap();
    assert_eq!(r.status, RepairStatus::Verified);
    assert_eq!(*desk.pauses.borrow(), vec![1_000, 2_000]);
    let executed = desk
        .actions()
        .iter()
        .filter(|(_, a)| *a == Action::RepairExecuted)
        .count();
    assert_eq!(executed, 1, "the outcome is audited once");
}

#[test]
fn an_outcome_that_cannot_be_recorded_is_left_executing_for_recovery_to_finish() {
    let desk = fake(true);
    desk.faults.borrow_mut().extend([
        (1, CommitFault::Before(Err::Busy)),
        (2, CommitFault::Before(Err::Busy)),
        (3, CommitFault::Before(Err::Busy)),
    ]);
    let got = run(approve(&desk, &mapping(), &by_person(), &ours)).unwrap_err();
    assert_eq!(got, Err::Busy);
    assert_eq!(desk.stored().status, RepairStatus::Executing);
    assert_eq!(desk.commits.get(), 4, "three attempts, then it gives up");

    // Its outcome is unknown: recovery records it failed, as such, and checks the customer.
    run(recover(&desk, RID)).unwrap();
    let r = desk.stored();
    assert_eq!(r.status, RepairStatus::Failed);
    assert!(r
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with("ParityRail stopped before recording")));
    assert_eq!(desk.rechecks.get(), 1);
    assert_eq!(
        desk.actions().last().map(|a| a.1),
        Some(Action::RepairFailed)
    );
}

#[test]
fn a_refusal_on_the_first_attempt_to_record_is_not_taken_for_a_lost_answer() {
    // The repair is where this attempt was taking it, but this attempt is the first: someone
    // else put it there, so the refusal stands and nothing goes on to verify it.
    let desk = fake(true);
    desk.faults
        .borrow_mut()
        .insert(1, CommitFault::After(Err::Refused(RepairRefusal::Changed)));
    let got = run(approve(&desk, &mapping(), &by_person(), &ours)).unwrap_err();
    assert_eq!(got, Err::Refused(RepairRefusal::Changed));
    assert!(desk.pauses.borrow().is_empty());
    assert_eq!(desk.rechecks.get(), 0);
}

#[test]
fn verification_holds_only_when_the_customer_is_in_parity() {
    let out_of_parity = |kind: &str| {
        format!(
            "the re-check shows the customer out of parity ({kind}): the row drifts in a way \
             this repair did not write"
        )
    };
    let cases = [
        (Recheck::Resolves, RepairStatus::Verified, None),
        (
            Recheck::StaysOpen,
            RepairStatus::Unverified,
            Some(
                "the re-check still shows the drift: the incidents it names stay open (inc_1)"
                    .to_owned(),
            ),
        ),
        (
            Recheck::NewDrift(IncidentKind::UnpaidAccess),
            RepairStatus::Unverified,
            Some(out_of_parity("unpaid_access")),
        ),
        // A drift in other columns leaves the customer out of parity too: a repair is verified
        // only when the customer is whole.
        (
            Recheck::NewDrift(IncidentKind::TrialMismatch),
            RepairStatus::Unverified,
            Some(out_of_parity("trial_mismatch")),
        ),
        (
            Recheck::Fails,
            RepairStatus::Unverified,
            Some(
                "the re-check failed (stripe_unreachable): stripe_unreachable happened".to_owned(),
            ),
        ),
    ];
    for (found, status, error) in cases {
        let desk = fake(true);
        *desk.recheck.borrow_mut() = found;
        let r = run(approve(&desk, &mapping(), &by_person(), &ours)).unwrap();
        assert_eq!((r.status, r.error), (status, error));
        assert!(r.verified_at.is_some());
        assert_eq!(desk.actions().len(), 3);
    }
}

/// A pending repair of both `inc_1` (premium) and `inc_2` (SSO), both open.
fn fake_of_two() -> Fake {
    let desk = fake(true);
    if let Some(r) = desk.repairs.borrow_mut().get_mut(RID) {
        r.changes.push(ColumnChange {
            column: "feature_sso".into(),
            before: json!(false),
            after: json!(true),
        });
        r.incident_ids = vec![IID.into(), "inc_2".into()];
    }
    desk.incidents.borrow_mut().insert(
        "inc_2".into(),
        incident("inc_2", IncidentKind::EntitlementMismatch),
    );
    desk
}

#[test]
fn a_repair_of_two_incidents_is_claimed_only_while_both_are_open_and_verified_only_when_both_resolve(
) {
    // One of them resolved on its own meanwhile: the claim is refused, nothing runs.
    let desk = fake_of_two();
    if let Some(i) = desk.incidents.borrow_mut().get_mut("inc_2") {
        i.status = IncidentStatus::Resolved;
    }
    let got = run(approve(&desk, &mapping(), &by_person(), &ours)).unwrap_err();
    assert_eq!(got, Err::Stop(Stop::IncidentNotOpen));
    assert_eq!(desk.executions.get(), 0);

    // Both open, one transaction; the re-check resolves only one: not in parity.
    let desk = fake_of_two();
    let r = run(approve(&desk, &mapping(), &by_person(), &ours)).unwrap();
    assert_eq!(desk.executions.get(), 1);
    assert_eq!(r.status, RepairStatus::Unverified);
    assert_eq!(
        r.error.as_deref(),
        Some("the re-check still shows the drift: the incidents it names stay open (inc_2)")
    );

    // Both resolve: verified.
    let desk = fake_of_two();
    *desk.recheck.borrow_mut() = Recheck::ResolvesAll;
    let r = run(approve(&desk, &mapping(), &by_person(), &ours)).unwrap();
    assert_eq!((r.status, r.error), (RepairStatus::Verified, None));
    assert_eq!(desk.executions.get(), 1);
}

#[test]
fn recovery_verifies_an_executed_repair_and_leaves_final_ones_alone() {
    let desk = fake(true);
    if let Some(r) = desk.repairs.borrow_mut().get_mut(RID) {
        r.status = RepairStatus::Executed;
    }
    run(recover(&desk, RID)).unwrap();
    assert_eq!(desk.stored().status, RepairStatus::Verified);
    assert_eq!(
        desk.actions(),
        vec![("system:repair".into(), Action::RepairVerified)]
    );

    for status in RepairStatus::ALL {
        if matches!(status, RepairStatus::Executing | RepairStatus::Executed) {
            continue;
        }
        let desk = fake(true);
        if let Some(r) = desk.repairs.borrow_mut().get_mut(RID) {
            r.status = status;
        }
        run(recover(&desk, RID)).unwrap();
        assert!(desk.log.borrow().is_empty(), "{status:?}");
        assert_eq!(desk.rechecks.get(), 0, "{status:?}");
    }
    // A repair that is gone is nothing to recover.
    assert_eq!(run(recover(&fake(true), "rep_gone")), Ok(()));
}

#[test]
fn timestamps_come_from_the_desk_clock_at_each_step() {
    let desk = fake(true);
    let r = run(approve(&desk, &mapping(), &by_person(), &ours)).unwrap();
    let (executed, verified) = (r.executed_at.unwrap(), r.verified_at.unwrap());
    assert!(executed.millis() > 100 && verified > executed);
    assert_eq!(r.updated_at, verified);
}

#[test]
fn recovery_waits_at_least_its_floor_whatever_is_configured() {
    let floor = RECOVER_FLOOR_MS;
    assert_eq!(floor, 120_000);
    // A configured wait below the floor is held to it; above it, it stands.
    assert_eq!(recover_after(Some(1_000), 10_000, floor), floor);
    assert_eq!(recover_after(Some(0), 10_000, floor), floor);
    assert_eq!(recover_after(Some(300_000), 10_000, floor), 300_000);
    // Unset: the floor, or every database limit plus a minute when that is longer.
    assert_eq!(recover_after(None, 10_000, floor), floor);
    assert_eq!(recover_after(None, 200_000, floor), 260_000);
    assert_eq!(recover_after(None, u32::MAX, floor), u32::MAX);
}
