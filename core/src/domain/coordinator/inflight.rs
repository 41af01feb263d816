//! A repair's approval as the coordinator runs it (`domain::approval::approve` is the approval
//! itself): one approval per repair at a time in this object (`Approving`: a second one is
//! refused at once, before anything is read); every approval kept in the coordinator's storage
//! with a token until its outcome is recorded, and the alarm set for when it would count as cut
//! short; the approval stays its own only while its token is the stored one (`still_ours`).
//!
//! The recovery: an approval kept for longer than the recovery delay and not running in this
//! object is taken over (a new token first, so an instance still running it can no longer
//! commit) and finished (`domain::approval::recover`); one that cannot be finished yet stays
//! kept, and the alarm is set again.

use super::super::approval::RepairRefusal;
use super::Alarm;
use std::cell::RefCell;
use std::collections::BTreeSet;

/// An approval kept in the coordinator's storage, with what the store keeps of it (`of`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inflight<T> {
    pub repair: String,
    /// When it started (ms since the epoch).
    pub started: i64,
    pub of: T,
}

/// The approvals the coordinator keeps until their outcome is recorded.
pub trait InflightStore: Alarm {
    /// What is kept of an approval besides its repair and start (whose project it is).
    type Of;
    /// Keeps approval `repair` started `now` (as it was when already kept: its start and
    /// token are the first one's) and returns its token.
    fn track(&self, repair: &str, of: &Self::Of, now: i64) -> Result<String, Self::Error>;
    /// The token of approval `repair`, if kept.
    fn token(&self, repair: &str) -> Result<Option<String>, Self::Error>;
    /// Gives approval `repair` a new token.
    fn take_over(&self, repair: &str) -> Result<(), Self::Error>;
    fn untrack(&self, repair: &str) -> Result<(), Self::Error>;
    fn all(&self) -> Result<Vec<Inflight<Self::Of>>, Self::Error>;
}

/// The repairs whose approval runs in this object now.
#[derive(Debug, Default)]
pub struct Approving(RefCell<BTreeSet<String>>);

impl Approving {
    /// Marks `repair` running until the guard is dropped; `None` when it already runs (an
    /// approval cut short, its future dropped, never blocks the repair).
    pub fn start(&self, repair: &str) -> Option<Running<'_>> {
        self.0
            .borrow_mut()
            .insert(repair.to_owned())
            .then(|| Running {
                set: self,
                repair: repair.to_owned(),
            })
    }

    pub fn contains(&self, repair: &str) -> bool {
        self.0.borrow().contains(repair)
    }
}

/// A repair's approval running in this object.
pub struct Running<'a> {
    set: &'a Approving,
    repair: String,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.set.0.borrow_mut().remove(&self.repair);
    }
}

/// One approval's work (in the adapter: `repairs::approve` over D1, Stripe and the repair
/// credential).
#[allow(async_fn_in_trait)]
pub trait ApprovalWork {
    type Failure;
    type View;
    /// The approval, fenced by `still_ours`: `Err` when it could not even begin (nothing was
    /// claimed), else how it ended.
    async fn approve(
        &self,
        still_ours: &dyn Fn() -> bool,
    ) -> Result<Result<Self::View, Self::Failure>, Self::Failure>;
    /// Whether the repair's outcome may still be unrecorded (`executing` or `executed`, or its
    /// status could not be read).
    async fn unfinished(&self) -> bool;
    /// An approval that ended in a failure.
    fn report(&self, e: &Self::Failure);
}

/// Approves `repair` (kept with `of`) at `now`, unless its approval already runs here; the alarm
/// is set `recover_after_ms` from now for its recovery, and it is forgotten once its outcome is
/// recorded.
pub async fn approve<S, W, F>(
    store: &S,
    approving: &Approving,
    work: &W,
    repair: &str,
    of: &S::Of,
    now: i64,
    recover_after_ms: i64,
) -> Result<W::View, F>
where
    S: InflightStore,
    W: ApprovalWork<Failure = F>,
    F: From<S::Error> + From<RepairRefusal>,
{
    let Some(_running) = approving.start(repair) else {
        return Err(RepairRefusal::ApprovalRunning.into());
    };
    let outcome = async {
        let token = store.track(repair, of, now)?;
        store.within(recover_after_ms).await?;
        // Ours while the stored token is the one we were given: a recovery replaces it first.
        let still_ours = || store.token(repair).ok().flatten().as_deref() == Some(token.as_str());
        let ended = work.approve(&still_ours).await?;
        if !work.unfinished().await {
            store.untrack(repair)?;
        }
        ended
    }
    .await;
    if let Err(e) = &outcome {
        work.report(e);
    }
    outcome
}

/// Finishing an approval cut short (in the adapter: `repairs::recover`).
#[allow(async_fn_in_trait)]
pub trait RecoverWork<T> {
    type Failure;
    async fn recover(&self, a: &Inflight<T>) -> Result<(), Self::Failure>;
    fn report(&self, repair: &str, e: &Self::Failure);
}

/// Finishes, at `now`, the approvals kept for longer than `recover_after_ms` that do not run
/// in this object; the alarm is set again while any is left.
pub async fn recover<S, W>(
    store: &S,
    approving: &Approving,
    work: &W,
    now: i64,
    recover_after_ms: i64,
) -> Result<(), S::Error>
where
    S: InflightStore,
    W: RecoverWork<S::Of>,
{
    let kept = store.all()?;
    if kept.is_empty() {
        return Ok(());
    }
    let (mut waiting, mut failed) = (false, None);
    for a in kept {
        if approving.contains(&a.repair) || now - a.started < recover_after_ms {
            waiting = true;
            continue;
        }
        // Taken over before anything is done: an instance still running it can no longer
        // claim or commit. One the store cannot take over waits for the next look; the others
        // are recovered meanwhile.
        if let Err(e) = store.take_over(&a.repair) {
            waiting = true;
            failed.get_or_insert(e);
            continue;
        }
        match work.recover(&a).await {
            Ok(()) => {
                if let Err(e) = store.untrack(&a.repair) {
                    waiting = true;
                    failed.get_or_insert(e);
                }
            }
            Err(e) => {
                waiting = true;
                work.report(&a.repair, &e);
            }
        }
    }
    if waiting {
        store.within(recover_after_ms).await?;
    }
    // The store's first failure is still the answer (logged, the alarm tried again), after the
    // others were recovered and the next look was set.
    failed.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests;
