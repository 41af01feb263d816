//! One alarm's step of the run a coordinator drives: the step goes on at once while it
//! succeeds; a ParityRail-side failure is tried again after `backoff_ms` and the
//! `MAX_FAILURES`-th in a row gives the run up (ended `failed`, so a project is never stuck
//! "running"); a project that cannot even be reached is looked at again in `UNREACHED_MS`.

use super::super::records::Next;
use super::{after_failure, AfterFailure, Alarm, UNREACHED_MS};

/// The message a run given up ends with.
pub const GIVE_UP: &str = "ParityRail could not continue the run (storage failures); start another";

/// The coordinator's record of the run it drives.
pub trait RunSlot: Alarm {
    /// Records `n` failures in a row.
    fn set_failures(&self, n: i64) -> Result<(), Self::Error>;
    /// Forgets run `run` and what it learned (only if it is still the one driven).
    fn forget(&self, run: &str) -> Result<(), Self::Error>;
}

/// Why a step did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepFailure<F> {
    /// The project could not be reached; the step was not tried.
    Unreached(F),
    /// The step failed on ParityRail's side (it is tried again as it was).
    Failed(F),
}

/// The run's work (in the adapter: `runs` over D1, Stripe and the app database).
#[allow(async_fn_in_trait)]
pub trait RunWork {
    type Failure;
    /// One step of the run.
    async fn step(&self) -> Result<Next, StepFailure<Self::Failure>>;
    /// Ends the run `failed` with `message`.
    async fn abandon(&self, message: &str) -> Result<(), Self::Failure>;
    /// Reports a failure (logged at the edge).
    fn report(&self, e: &Self::Failure);
}

/// One step of `run`, which had failed `failures` times in a row before it.
pub async fn tick<S: RunSlot, W: RunWork>(
    slot: &S,
    work: &W,
    run: &str,
    failures: i64,
) -> Result<(), S::Error> {
    match work.step().await {
        Ok(Next::More) => {
            if failures > 0 {
                slot.set_failures(0)?;
            }
            slot.set(0).await
        }
        Ok(Next::Stop) => slot.forget(run),
        Err(StepFailure::Failed(e)) => {
            work.report(&e);
            let (failures, in_ms) = match after_failure(failures, false) {
                AfterFailure::Retry { failures, in_ms } => (failures, in_ms),
                AfterFailure::GiveUp => {
                    if work.abandon(GIVE_UP).await.is_ok() {
                        return slot.forget(run);
                    }
                    // Not ended (D1 failing too): the ending is tried again at the next step,
                    // after the longest backoff so far.
                    let failures = failures.saturating_add(1);
                    (failures, super::backoff_ms(failures))
                }
            };
            slot.set_failures(failures)?;
            slot.set(in_ms).await
        }
        Err(StepFailure::Unreached(e)) => {
            work.report(&e);
            slot.set(UNREACHED_MS).await
        }
    }
}

#[cfg(test)]
mod tests;
