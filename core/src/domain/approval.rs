//! A repair's approval, execution and verification (SPEC §8) as a state machine over one port,
//! `Desk` (D1 and the project chain, Stripe, the repair credential and the re-check at the
//! edge), tested here with an in-memory fake.
//!
//! An approval is four commits on the project chain and one database transaction:
//! 1. `repair.approved` by the approver: `pending → executing`, only while every incident the
//!    repair names is open (a drift that resolved meanwhile must not be "fixed"), before any
//!    connection to the customer's database is opened;
//! 2. the transaction (`Desk::execute`) on the repair credential, after a repair that takes
//!    anything away was confirmed against Stripe once more (`stripe_objection`);
//! 3. `repair.executed`, `repair.stale` or `repair.failed` by `system:repair`, with the row as
//!    locked and as written;
//! 4. the re-check of the customer, then `repair.verified` when the customer is in parity
//!    (every incident the repair names resolved, no open incident of the customer left),
//!    `repair.unverified` otherwise.
//!
//! What the system records after the customer's database answered is tried again (`record`)
//! before it gives up, since an outcome must not be lost; what still fails is finished by
//! `recover`.

use super::audit::{Action, Actor};
use super::ids::{KeyId, MemberId};
use super::incidents::{Incident, IncidentStatus};
use super::mapping::Mapping;
use super::reconcile::{self, AppValues, ProductFeatures, StripeCustomer};
use super::repair_plan::ExecPlan;
use super::repairs::{effect, still_wanted, Effect, Repair, RepairStatus};
use super::time::Timestamp;

/// The actor of everything ParityRail does on its own once a repair is approved.
pub const SYSTEM: Actor = Actor::System("repair");
/// The approver of grants a project approves automatically (`auto_approve_grants`).
pub const AUTO: Actor = Actor::System("auto_approve");

/// How a repair's transaction ended (nothing but `Executed` wrote anything); `E` is the
/// database's error.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<E> {
    /// Committed: the mapped columns as locked and as written.
    Executed { before: AppValues, after: AppValues },
    /// A written column no longer holds its expected value: rolled back.
    Stale {
        live: AppValues,
        columns: Vec<String>,
    },
    /// No row has the key: rolled back.
    Missing,
    /// More than one row has the key: rolled back.
    Duplicate,
    /// The approval was taken over (its coordinator replaced) before the COMMIT: rolled back.
    Fenced,
    /// The update ran but the COMMIT was not confirmed (the connection broke or timed out while
    /// it was sent): the row may or may not have been written.
    Unconfirmed {
        before: AppValues,
        after: AppValues,
        error: E,
    },
}

impl<E> Outcome<E> {
    /// The same outcome with its database error turned into `F`.
    pub fn map_error<F>(self, f: impl FnOnce(E) -> F) -> Outcome<F> {
        match self {
            Outcome::Executed { before, after } => Outcome::Executed { before, after },
            Outcome::Stale { live, columns } => Outcome::Stale { live, columns },
            Outcome::Missing => Outcome::Missing,
            Outcome::Duplicate => Outcome::Duplicate,
            Outcome::Fenced => Outcome::Fenced,
            Outcome::Unconfirmed {
                before,
                after,
                error,
            } => Outcome::Unconfirmed {
                before,
                after,
                error: f(error),
            },
        }
    }
}

/// Why a repair cannot move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepairRefusal {
    /// It is in this status (`RepairStatus::as_str`), not `pending`.
    NotPending(&'static str),
    /// Another approval of it is running.
    ApprovalRunning,
    /// This approval was taken over by a newer one.
    TakenOver,
    /// It changed while this change was decided.
    Changed,
    /// Its change cannot be run against the mapping as it is now (why, without secrets).
    NotExecutable(String),
    /// Only grants are approved automatically.
    NeedsAPerson,
    /// The project no longer approves grants automatically (or is gone): checked in the
    /// automatic claim's own batch.
    AutomaticOff,
}

impl RepairRefusal {
    /// The repair is not (or no longer) where this step needs it: someone else moved it.
    pub fn moved_elsewhere(&self) -> bool {
        matches!(
            self,
            RepairRefusal::NotPending(_)
                | RepairRefusal::ApprovalRunning
                | RepairRefusal::TakenOver
                | RepairRefusal::Changed
        )
    }

    fn not_pending(r: &Repair) -> Self {
        RepairRefusal::NotPending(r.status.as_str())
    }
}

/// What else ends an approval step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// No such repair in the project.
    NotFound,
    /// An incident the repair names is no longer open.
    IncidentNotOpen,
    /// The outcome could not be recorded, and nothing said why.
    Unrecorded,
}

/// What the engine needs to know of the port's errors.
pub trait Failure: From<RepairRefusal> + From<Stop> {
    /// Trying the same again now may succeed (a contended chain, a store failing on the way).
    fn is_transient(&self) -> bool;
    /// The refusal, when it is one.
    fn refusal(&self) -> Option<&RepairRefusal>;
    /// The stable code, recorded in a repair's `error`.
    fn code(&self) -> String;
    /// What a reader of the repair is told of it (no secret, no internal detail).
    fn message(&self) -> String;
}

/// What a commit checks besides the repair still being in the status it was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitCheck {
    /// Nothing more.
    Status,
    /// `pending → executing`: the incidents the repair names are read with it (after the chain
    /// head, so what is read holds when the batch commits), and the approver must still be valid when
    /// it commits: a person's key, cap and role as authentication read them, the automatic
    /// approver's project with `auto_approve_grants` still on (`RepairRefusal::AutomaticOff`).
    Claim,
}

/// One audited change of a repair.
#[derive(Debug, Clone, Copy)]
pub struct Move<'a> {
    pub actor: &'a Actor,
    pub action: Action,
    pub check: CommitCheck,
}

/// What a change of a repair is decided from: the repair as read after the chain head, and for
/// a `CommitCheck::Claim` the incidents it names that exist (one that is gone is missing).
pub type Decide<'a, E> = &'a dyn Fn(&Repair, &[Incident]) -> Result<Repair, E>;

/// The platform an approval runs on, for one project.
#[allow(async_fn_in_trait)]
pub trait Desk {
    type Error: Failure;
    /// The clock, read live: an approval's steps may be seconds apart.
    fn now(&self) -> Timestamp;
    /// Waits `ms` milliseconds.
    async fn pause(&self, ms: u64);
    async fn repair(&self, id: &str) -> Result<Option<Repair>, Self::Error>;
    async fn incident(&self, id: &str) -> Result<Option<Incident>, Self::Error>;
    /// Commits one change of repair `id` on the project chain, audited as `mv.actor` doing
    /// `mv.action` with the repair before and after: reads the repair (and for a `CommitCheck::Claim`
    /// the incidents it names) after the chain head, asks `decide` for the repair after, and commits only
    /// while the repair is still as read (and for a `CommitCheck::Claim` the approving caller still
    /// valid). `Stop::NotFound` when there is no such repair.
    async fn commit(
        &self,
        id: &str,
        mv: Move<'_>,
        decide: Decide<'_, Self::Error>,
    ) -> Result<Repair, Self::Error>;
    /// The customer as Stripe has it now, with its products' features; `None` when Stripe has
    /// no such customer.
    async fn stripe(
        &self,
        m: &Mapping,
        customer: &str,
    ) -> Result<Option<(StripeCustomer, ProductFeatures)>, Self::Error>;
    /// Runs `plan` in one transaction on the repair credential; `still_ours` is asked before
    /// the COMMIT is sent.
    async fn execute(
        &self,
        plan: &ExecPlan,
        still_ours: &dyn Fn() -> bool,
    ) -> Result<Outcome<Self::Error>, Self::Error>;
    /// Checks the customer again (Stripe and the app; its incidents changed and audited as the
    /// system), returning its open and ignored incidents.
    async fn recheck(&self, customer: &str) -> Result<Vec<Incident>, Self::Error>;
}

/// Who approves.
#[derive(Debug, Clone)]
pub enum Approver {
    /// A member, through one of their keys.
    Person { member: MemberId, key: KeyId },
    /// The project's automatic approval (`auto_approve_grants`, audited as `AUTO`), which takes
    /// grants only.
    Automatic,
}

impl Approver {
    pub fn actor(&self) -> Actor {
        match self {
            Approver::Person { member, key } => Actor::Member {
                member: member.clone(),
                key: key.clone(),
            },
            Approver::Automatic => AUTO,
        }
    }
}

/// One approval: of which repair, by whom.
#[derive(Debug, Clone)]
pub struct Ask {
    pub repair: String,
    pub approver: Approver,
}

/// Approves, executes and verifies one repair against `m` (the project's mapping as it is now).
///
/// `still_ours` fences the approval against a recovery taking it over (the coordinator
/// replaced while it ran): asked before the claim commits and before the COMMIT is sent.
pub async fn approve<D: Desk>(
    desk: &D,
    m: &Mapping,
    ask: &Ask,
    still_ours: &dyn Fn() -> bool,
) -> Result<Repair, D::Error> {
    let approver = ask.approver.actor();
    let claim = Move {
        actor: &approver,
        action: Action::RepairApproved,
        check: CommitCheck::Claim,
    };
    let decide = |r: &Repair, incidents: &[Incident]| -> Result<Repair, D::Error> {
        if r.status != RepairStatus::Pending {
            return Err(RepairRefusal::not_pending(r).into());
        }
        if !still_ours() {
            return Err(RepairRefusal::TakenOver.into());
        }
        ExecPlan::new(r, m).map_err(not_executable::<D::Error>)?;
        // Automatic approval takes grants only, judged by the mapping as it is now (plan ranks
        // may have changed since the repair was suggested): never a revocation or a downgrade.
        let automatic = matches!(ask.approver, Approver::Automatic);
        if automatic && effect(m, &r.changes) != Effect::Grant {
            return Err(RepairRefusal::NeedsAPerson.into());
        }
        let open = |id: &String| {
            incidents
                .iter()
                .any(|i| &i.id == id && i.status == IncidentStatus::Open)
        };
        if r.incident_ids.is_empty() || !r.incident_ids.iter().all(open) {
            return Err(Stop::IncidentNotOpen.into());
        }
        let mut after = r.moved(RepairStatus::Executing, desk.now());
        after.approved_by = Some(approver.render());
        Ok(after)
    };
    let claimed = moved(desk, &ask.repair, claim, &decide).await?;
    let plan = ExecPlan::new(&claimed, m).map_err(not_executable::<D::Error>)?;
    if let Some(why) = stripe_objection(desk, m, &claimed).await {
        let stale = (Action::RepairStale, RepairStatus::Stale);
        return record(desk, &ask.repair, stale, |after, now| {
            after.executed_at = Some(now);
            after.error = Some(format!("{why}; nothing was written"));
        })
        .await;
    }
    // The repair is `executing` on the chain: only now is the customer's database opened.
    let outcome = desk.execute(&plan, still_ours).await;
    let executed = record(desk, &ask.repair, ended(&outcome), |after, now| {
        after.executed_at = Some(now);
        written(after, &outcome);
    })
    .await?;
    match executed.status {
        RepairStatus::Executed => verify(desk, &executed).await,
        RepairStatus::Failed if matches!(outcome, Ok(Outcome::Unconfirmed { .. })) => {
            // The failure stands as recorded; the check only brings the incidents up to date
            // (a failed check is the next check's to do).
            let _ = desk.recheck(&executed.customer).await;
            Ok(executed)
        }
        _ => Ok(executed),
    }
}

fn not_executable<E: From<RepairRefusal>>(e: impl std::fmt::Display) -> E {
    RepairRefusal::NotExecutable(e.to_string()).into()
}

/// The audited action and status that record a transaction's end.
fn ended<E>(outcome: &Result<Outcome<E>, E>) -> (Action, RepairStatus) {
    match outcome {
        Ok(Outcome::Executed { .. }) => (Action::RepairExecuted, RepairStatus::Executed),
        Ok(Outcome::Stale { .. }) => (Action::RepairStale, RepairStatus::Stale),
        Ok(
            Outcome::Missing | Outcome::Duplicate | Outcome::Unconfirmed { .. } | Outcome::Fenced,
        )
        | Err(_) => (Action::RepairFailed, RepairStatus::Failed),
    }
}

/// What the repair records of its transaction: the row as locked and as written, and in words
/// what happened when it did not commit.
fn written<E: Failure>(r: &mut Repair, outcome: &Result<Outcome<E>, E>) {
    let nothing = "nothing was written";
    r.error = match outcome {
        Ok(Outcome::Executed { before, after }) => {
            r.row_before = Some(before.clone());
            r.row_after = Some(after.clone());
            None
        }
        Ok(Outcome::Stale { live, columns }) => {
            r.row_before = Some(live.clone());
            Some(format!(
                "the row changed since the repair was suggested ({}); {nothing}",
                columns.join(", ")
            ))
        }
        Ok(Outcome::Missing) => Some(format!(
            "the repair role finds no row with this customer's key (gone, or hidden from it); \
             {nothing}"
        )),
        Ok(Outcome::Duplicate) => Some(format!(
            "more than one row has this customer's key; {nothing}"
        )),
        Ok(Outcome::Fenced) => Some(format!(
            "the approval was taken over before its commit; {nothing}"
        )),
        Ok(Outcome::Unconfirmed {
            before,
            after,
            error,
        }) => {
            r.row_before = Some(before.clone());
            r.row_after = Some(after.clone());
            Some(format!(
                "{}: {}; the database did not confirm the commit, so the row may or may not \
                 have been written; the customer was checked again",
                error.code(),
                error.message()
            ))
        }
        Err(e) => Some(format!("{}: {}; {nothing}", e.code(), e.message())),
    };
}

/// One change of a repair through `Desk::commit`, refused unless the status machine allows it.
async fn moved<D: Desk>(
    desk: &D,
    id: &str,
    mv: Move<'_>,
    decide: Decide<'_, D::Error>,
) -> Result<Repair, D::Error> {
    let checked = |r: &Repair, i: &[Incident]| {
        let after = decide(r, i)?;
        if !r.status.may_become(after.status) {
            return Err(RepairRefusal::not_pending(r).into());
        }
        Ok(after)
    };
    desk.commit(id, mv, &checked).await
}

/// Attempts `record` makes, and the pause before the second (doubled before the third).
pub const RECORD_ATTEMPTS: u32 = 3;
pub const RECORD_FIRST_PAUSE_MS: u64 = 1_000;

/// Moves the repair to `target` as the system (`fill` sets what else changes), for what is
/// recorded after the customer's database answered: tried again on a transient failure before
/// giving up, since the outcome must not be lost. An attempt that finds the repair already
/// where it was taking it takes that as its own earlier commit whose answer was lost.
async fn record<D: Desk>(
    desk: &D,
    id: &str,
    (action, target): (Action, RepairStatus),
    fill: impl Fn(&mut Repair, Timestamp),
) -> Result<Repair, D::Error> {
    let mv = Move {
        actor: &SYSTEM,
        action,
        check: CommitCheck::Status,
    };
    let change = |r: &Repair, _: &[Incident]| {
        let now = desk.now();
        let mut after = r.moved(target, now);
        fill(&mut after, now);
        Ok(after)
    };
    let mut last = None;
    for attempt in 0..RECORD_ATTEMPTS {
        if attempt > 0 {
            desk.pause(RECORD_FIRST_PAUSE_MS << (attempt - 1)).await;
        }
        match moved(desk, id, mv, &change).await {
            Ok(r) => return Ok(r),
            Err(e) if e.is_transient() => last = Some(e),
            Err(e) if attempt > 0 && e.refusal().is_some_and(RepairRefusal::moved_elsewhere) => {
                return match desk.repair(id).await? {
                    Some(r) if r.status == target => Ok(r),
                    _ => Err(e),
                };
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| Stop::Unrecorded.into()))
}

/// Why a repair that takes anything away must not run now, if it must not: checked against
/// Stripe once more right before it runs, so a customer who paid (or entered a `keep` state)
/// since it was suggested keeps their access. Stripe unreadable refuses it too: nothing is
/// taken on a guess. A grant is never held back.
///
/// A customer Stripe does not confirm (a 404, which is also what a wrong-account or swapped key
/// answers, or `deleted: true`) refuses it as well. The diff engine reads such a customer the
/// same way: a fresh check opens `unknown_customer` about it, for which no repair is suggested,
/// so the access of a customer Stripe cannot show is never taken by an approval made before.
async fn stripe_objection<D: Desk>(desk: &D, m: &Mapping, r: &Repair) -> Option<String> {
    // Judged by the mapping as it is now (plan ranks may have changed since the suggestion).
    if effect(m, &r.changes) == Effect::Grant {
        return None;
    }
    match desk.stripe(m, &r.customer).await {
        Ok(Some((side, features))) => {
            let expected = reconcile::expected(m, &side, &features);
            (!still_wanted(m, &r.changes, &expected)).then(|| {
                "Stripe no longer asks for this change (the customer paid or entered a grace \
                 state since it was suggested)"
                    .to_owned()
            })
        }
        Ok(None) => Some(
            "Stripe could not confirm the customer (it has no such customer, or it was \
             deleted)"
                .to_owned(),
        ),
        Err(e) => Some(format!(
            "Stripe could not be read to confirm it ({})",
            e.code()
        )),
    }
}

/// Re-checks the customer and records whether the repair brought it parity: `verified` only
/// when every incident the repair names resolved and no incident of the customer is left open
/// (a write that took access from a customer who paid meanwhile opens one, and a drift the
/// repair did not name keeps the customer out of parity); `unverified` otherwise, the
/// incidents staying open.
async fn verify<D: Desk>(desk: &D, r: &Repair) -> Result<Repair, D::Error> {
    let checked = desk.recheck(&r.customer).await;
    let mut unresolved = Vec::new();
    for id in &r.incident_ids {
        let resolved = desk
            .incident(id)
            .await?
            .is_some_and(|i| i.status == IncidentStatus::Resolved);
        if !resolved {
            unresolved.push(id.as_str());
        }
    }
    let still: Vec<&str> = match &checked {
        Ok(live) => live
            .iter()
            .filter(|i| i.status == IncidentStatus::Open && !r.names(&i.id))
            .map(|i| i.kind.as_str())
            .collect(),
        Err(_) => Vec::new(),
    };
    let parity = checked.is_ok() && unresolved.is_empty() && still.is_empty();
    let ends = if parity {
        (Action::RepairVerified, RepairStatus::Verified)
    } else {
        (Action::RepairUnverified, RepairStatus::Unverified)
    };
    record(desk, &r.id, ends, |after, now| {
        after.verified_at = Some(now);
        after.error = match &checked {
            Err(e) => Some(format!(
                "the re-check failed ({}): {}",
                e.code(),
                e.message()
            )),
            Ok(_) if !unresolved.is_empty() => Some(format!(
                "the re-check still shows the drift: the incidents it names stay open ({})",
                unresolved.join(", ")
            )),
            Ok(_) if !still.is_empty() => Some(format!(
                "the re-check shows the customer out of parity ({}): the row drifts in a way \
                 this repair did not write",
                still.join(", ")
            )),
            Ok(_) => None,
        };
    })
    .await
}

/// The least time an approval may go without its outcome recorded before `recover` may take it
/// over (`REPAIR_RECOVER_AFTER_MS` is never below it in the shipped build).
pub const RECOVER_FLOOR_MS: u32 = 120_000;

/// How long an approval may go without its outcome recorded before `recover` takes it over:
/// `configured` (`REPAIR_RECOVER_AFTER_MS`) held to `floor`; unset, the longer of `floor` and
/// everything one approval may wait on the database (`db_ms`) plus a minute, so a slow
/// approval is never taken for a lost one.
pub fn recover_after(configured: Option<u32>, db_ms: u32, floor: u32) -> u32 {
    match configured {
        Some(ms) => ms.max(floor),
        None => floor.max(db_ms.saturating_add(60_000)),
    }
}

/// Finishes a repair whose approval stopped before its outcome was recorded (the coordinator
/// was reset, or the store kept failing): still `executing`, its outcome is unknown, so it is
/// recorded `failed` as such and the customer checked again; `executed` is verified. Anything
/// else is already final, and a repair that is gone is nothing to finish.
pub async fn recover<D: Desk>(desk: &D, id: &str) -> Result<(), D::Error> {
    let Some(r) = desk.repair(id).await? else {
        return Ok(());
    };
    match r.status {
        RepairStatus::Executing => {
            let failed = (Action::RepairFailed, RepairStatus::Failed);
            record(desk, id, failed, |after, now| {
                after.executed_at = Some(now);
                after.error = Some(
                    "ParityRail stopped before recording this repair's outcome: the row may or \
                     may not have been written; the customer was checked again"
                        .to_owned(),
                );
            })
            .await?;
            desk.recheck(&r.customer).await?;
        }
        RepairStatus::Executed => {
            verify(desk, &r).await?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests;
