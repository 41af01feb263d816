//! A project's automatic approval of grants (`auto_approve_grants`, SPEC §8): which pending
//! repairs are approved without a person (`select`, over the `PendingGrants` port), and how the
//! coordinator paces them (`tick`, over its storage and the approvals).
//!
//! Selection: pending grants, judged as the approval will judge them (the current mapping:
//! still a grant, still executable: a repair that gives one column and takes another is a
//! `change`, never a grant); a grant naming an incident that already had a repair fail, or go
//! stale `STALE_LIMIT` times, is left to a person, since approving it again would end the same
//! way on every check. At most `PER_ALARM` a round; pending grants are read `PAGE` at a time,
//! at most `PAGES` pages.
//!
//! Pacing: a round approves what was selected; while more wait it goes on at once, or in
//! `IDLE_MS` when every approval of the round was refused (no repair credential, the database
//! down) instead of spinning; the setting found off ends the round at once. A round that could
//! not read the project is tried again in `coordinator::UNREACHED_MS`. With nothing left, the
//! coordinator stops looking unless a run or a drain may still suggest more.

use super::approval::{Failure, RepairRefusal};
use super::coordinator::{Alarm, UNREACHED_MS};
use super::mapping::Mapping;
use super::repair_plan::ExecPlan;
use super::repairs::{effect, Effect, Repair, RepairStatus};

/// Pending grants approved automatically per round (one coordinator alarm).
pub const PER_ALARM: usize = 5;
/// Pending grants read at a time.
pub const PAGE: u32 = 50;
/// Pages of pending grants read at most per round.
pub const PAGES: usize = 10;
/// Stale repairs of one incident after which its grant is left to a person.
pub const STALE_LIMIT: usize = 3;
/// How long a round whose every approval was refused waits before the next.
pub const IDLE_MS: i64 = 60_000;

/// Whether a pending repair may be approved automatically under mapping `m`: a grant, by its
/// changes as the mapping reads them now, and executable as stored.
pub fn is_automatic(m: &Mapping, r: &Repair) -> bool {
    ExecPlan::new(r, m).is_ok() && effect(m, &r.changes) == Effect::Grant
}

/// Whether the grant of `incident` is left to a person, given the `setbacks` of the project's
/// repairs (incident, final status): one failed, or `STALE_LIMIT` stale.
pub fn left_to_a_person(incident: &str, setbacks: &[(String, RepairStatus)]) -> bool {
    let count = |s: RepairStatus| {
        setbacks
            .iter()
            .filter(|(i, st)| i == incident && *st == s)
            .count()
    };
    count(RepairStatus::Failed) > 0 || count(RepairStatus::Stale) >= STALE_LIMIT
}

/// The project's repairs as selection reads them (D1 at the edge).
#[allow(async_fn_in_trait)]
pub trait PendingGrants {
    type Error;
    /// The project's mapping, if it has one.
    async fn mapping(&self) -> Result<Option<Mapping>, Self::Error>;
    /// Pending repairs the store calls grants, by id after `after`, at most `limit`.
    async fn pending(&self, after: &str, limit: u32) -> Result<Vec<Repair>, Self::Error>;
    /// The failed and stale repairs of `customers`: (incident, status) for each incident each
    /// of them named.
    async fn setbacks(
        &self,
        customers: &[String],
    ) -> Result<Vec<(String, RepairStatus)>, Self::Error>;
}

/// The pending grants to approve automatically now (at most `PER_ALARM`), and whether more may
/// wait.
pub async fn select<P: PendingGrants>(p: &P) -> Result<(Vec<Repair>, bool), P::Error> {
    let Some(m) = p.mapping().await? else {
        return Ok((Vec::new(), false));
    };
    let mut out = Vec::new();
    let mut after = String::new();
    for _ in 0..PAGES {
        let page = p.pending(&after, PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        after.clone_from(&last.id);
        let full = page.len() == PAGE as usize;
        let candidates: Vec<Repair> = page.into_iter().filter(|r| is_automatic(&m, r)).collect();
        let mut customers: Vec<String> = candidates.iter().map(|r| r.customer.clone()).collect();
        customers.sort();
        customers.dedup();
        let setbacks = p.setbacks(&customers).await?;
        for r in candidates {
            if r.incident_ids
                .iter()
                .any(|i| left_to_a_person(i, &setbacks))
            {
                continue;
            }
            if out.len() == PER_ALARM {
                return Ok((out, true));
            }
            out.push(r);
        }
        if !full {
            break;
        }
    }
    Ok((out, false))
}

/// The coordinator's record that it looks for grants to approve.
pub trait AutoSlot: Alarm {
    /// A run or a drain may still suggest more.
    fn busy(&self) -> Result<bool, Self::Error>;
    /// Stops looking (until the next wake).
    fn clear(&self) -> Result<(), Self::Error>;
}

/// A round's approvals (at the edge: the project's setting, `select`, the coordinator's
/// approval).
#[allow(async_fn_in_trait)]
pub trait AutoWork {
    type Grant;
    type Failure: Failure;
    /// The grants to approve now (none when the project is gone or its setting is off), and
    /// whether more may wait.
    async fn grants(&self) -> Result<(Vec<Self::Grant>, bool), Self::Failure>;
    async fn approve(&self, g: &Self::Grant) -> Result<(), Self::Failure>;
    /// A failure to read the grants (`None`) or to approve one.
    fn report(&self, g: Option<&Self::Grant>, e: &Self::Failure);
}

/// One round of automatic approvals.
pub async fn tick<S: AutoSlot, W: AutoWork>(slot: &S, work: &W) -> Result<(), S::Error> {
    let (grants, more) = match work.grants().await {
        Ok(found) => found,
        Err(e) => {
            work.report(None, &e);
            return slot.within(UNREACHED_MS).await;
        }
    };
    let mut progressed = false;
    for g in &grants {
        match work.approve(g).await {
            Ok(()) => progressed = true,
            // The setting was turned off (or the project deleted) since it was read: every
            // later claim would be refused the same way, so the round ends here.
            Err(e) if e.refusal() == Some(&RepairRefusal::AutomaticOff) => break,
            Err(e) => work.report(Some(g), &e),
        }
    }
    if more {
        return slot.within(if progressed { 0 } else { IDLE_MS }).await;
    }
    if !slot.busy()? {
        slot.clear()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
