//! What a project's coordinator (a Durable Object at the edge) decides on each alarm, as engines
//! over two kinds of port: its own storage with its alarm (SQLite and the alarm at the edge) and
//! the work it drives (D1, Stripe, the customer's database at the edge). Each engine is tested
//! here with fakes whose storage can be made to fail on purpose.
//!
//! - `runs`: one step of the run it drives; a ParityRail-side failure is tried again with
//!   backoff (`backoff_ms`) and after `MAX_FAILURES` in a row the run is given up;
//! - `exports`: one step of the export due first; a failing export backs off without blocking
//!   the others and ends `failed` after `MAX_FAILURES` (at once when it cannot succeed);
//! - `drain`: one drain of the webhook outbox per wake generation (a wake that arrives during a
//!   drain is not forgotten with it);
//! - `inflight`: a repair's approval fenced by a token, and the recovery of approvals cut short.
//!
//! Automatic approval's selection and pacing is `domain::auto_approve`.

pub mod drain;
pub mod exports;
#[cfg(test)]
mod fakes;
pub mod inflight;
pub mod runs;

/// ParityRail-side failures in a row before a run or an export is given up.
pub const MAX_FAILURES: i64 = 5;

/// How long the work waits before it is tried again after its `failures`-th failure in a row:
/// 2, 4, 8, 16 … seconds, at most 256 s. The one backoff of the coordinator's runs and exports.
pub fn backoff_ms(failures: i64) -> i64 {
    1000i64 << failures.clamp(0, 8)
}

/// How long the coordinator waits before it tries again when the project could not even be
/// reached (the org or project did not resolve, the store failed before the work began).
pub const UNREACHED_MS: i64 = 30_000;

/// What follows a failure of work that had already failed `before` times in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Tried again in `in_ms`, `failures` failures recorded.
    Retry { failures: i64, in_ms: i64 },
    /// Given up: `MAX_FAILURES` reached, or the failure cannot pass (`permanent`).
    GiveUp,
}

/// The one retry rule: a permanent failure gives up at once; otherwise the `MAX_FAILURES`-th
/// failure in a row does, and every earlier one backs off.
pub fn after_failure(before: i64, permanent: bool) -> AfterFailure {
    let failures = if permanent {
        MAX_FAILURES
    } else {
        before.saturating_add(1)
    };
    if failures >= MAX_FAILURES {
        AfterFailure::GiveUp
    } else {
        AfterFailure::Retry {
            failures,
            in_ms: backoff_ms(failures),
        }
    }
}

/// The coordinator's alarm.
#[allow(async_fn_in_trait)]
pub trait Alarm {
    type Error;
    /// Sets the alarm `ms` from now, whatever it was set to.
    async fn set(&self, ms: i64) -> Result<(), Self::Error>;
    /// Sets the alarm `ms` from now (at least now) unless it is already set sooner.
    async fn within(&self, ms: i64) -> Result<(), Self::Error>;
}

#[cfg(test)]
mod tests;
