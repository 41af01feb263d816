//! One alarm's step of the exports a coordinator writes: the export due first (in the order
//! they were started) takes one step; its progress is saved after every step, a failed one too
//! (parts uploaded stay counted); a failing export backs off (`backoff_ms`) while the others go
//! on, and after `MAX_FAILURES` in a row — at once when the failure cannot pass, a chain that
//! does not verify — it is ended `failed`. An export that could not be ended is kept and only
//! its ending is tried again, every `END_RETRY_MS`. The alarm is then set for the export due
//! first.

use super::{after_failure, AfterFailure, Alarm, MAX_FAILURES};

/// How long an export that could not be ended waits before its ending is tried again.
pub const END_RETRY_MS: i64 = 600_000;

/// Why an export given up after `MAX_FAILURES` ends, when its last failure does not say.
pub const GIVE_UP: &str = "ParityRail could not write the export; start another";

/// An export in the coordinator's queue with its saved progress `P` and whose it is (`T`).
#[derive(Debug, Clone, PartialEq)]
pub struct Queued<P, T> {
    pub id: String,
    pub of: T,
    pub progress: P,
    pub failures: i64,
    /// When it is due (ms since the epoch; 0: now).
    pub next_at: i64,
}

/// The coordinator's queue of exports.
#[allow(async_fn_in_trait)]
pub trait ExportQueue: Alarm {
    type Progress;
    type Of;
    /// The export due first (by `next_at`, then the order they were started).
    #[allow(clippy::type_complexity)]
    fn first(&self) -> Result<Option<Queued<Self::Progress, Self::Of>>, Self::Error>;
    /// Saves `failures` and `next_at` of export `id`, and its progress when `Some`.
    fn save(
        &self,
        id: &str,
        progress: Option<&Self::Progress>,
        failures: i64,
        next_at: i64,
    ) -> Result<(), Self::Error>;
    /// Forgets export `id`.
    fn forget(&self, id: &str) -> Result<(), Self::Error>;
    /// When the export due first is due, if any is left.
    fn next_due(&self) -> Result<Option<i64>, Self::Error>;
}

/// What the export step says about a failure.
pub trait ExportFailure {
    /// It will fail the same way every time (a chain that does not verify).
    fn permanent(&self) -> bool;
    /// What the export ends with when it is given up for this failure and it is permanent.
    fn message(&self) -> String;
}

/// Whether a step left more to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stepped {
    More,
    Done,
}

/// The export's work (in the adapter: `exports` over D1, R2 and the signing key).
#[allow(async_fn_in_trait)]
pub trait ExportWork<P, T> {
    type Failure: ExportFailure;
    /// One step of export `id` (of `of`) from `progress`, which it moves on.
    async fn step(&self, id: &str, of: &T, progress: &mut P) -> Result<Stepped, Self::Failure>;
    /// Ends export `id` (of `of`) `failed` with `why`; whether it no longer runs.
    async fn end(&self, id: &str, of: &T, why: &str) -> bool;
    fn report(&self, id: &str, e: &Self::Failure);
}

/// One step of the export due first at `now` (ms since the epoch), if any is due.
pub async fn tick<Q, W>(queue: &Q, work: &W, now: i64) -> Result<(), Q::Error>
where
    Q: ExportQueue,
    W: ExportWork<Q::Progress, Q::Of>,
{
    let Some(mut q) = queue.first()? else {
        return Ok(());
    };
    if q.next_at > now {
        return queue.within(q.next_at - now).await;
    }
    match work.step(&q.id, &q.of, &mut q.progress).await {
        Ok(Stepped::More) => queue.save(&q.id, Some(&q.progress), 0, 0)?,
        Ok(Stepped::Done) => queue.forget(&q.id)?,
        Err(e) => {
            work.report(&q.id, &e);
            let permanent = e.permanent();
            match after_failure(q.failures, permanent) {
                AfterFailure::Retry { failures, in_ms } => {
                    queue.save(&q.id, Some(&q.progress), failures, now + in_ms)?
                }
                AfterFailure::GiveUp => {
                    let why = if permanent {
                        e.message()
                    } else {
                        GIVE_UP.to_owned()
                    };
                    if work.end(&q.id, &q.of, &why).await {
                        queue.forget(&q.id)?;
                    } else {
                        queue.save(&q.id, None, MAX_FAILURES, now + END_RETRY_MS)?;
                    }
                }
            }
        }
    }
    match queue.next_due()? {
        Some(at) => queue.within((at - now).max(0)).await,
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
