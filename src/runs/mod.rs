//! Full reconcile runs (SPEC §6), across the two workers: the edge starts one (`start`, for the
//! API and the cron) and the project's `ProjectCoordinator`, in its own worker, does it step by
//! step (`step`) and ends it. The phases, the `app` step's rules, the merge of a key range and
//! the run's lifecycle are pure (`domain::runs`, `domain::run_step`, `domain::records`); this
//! is their Stripe, PostgreSQL, D1 and Durable Object storage side, over one `RunBook` (`book`).
//!
//! What a run learns from Stripe (subscription facts, customer ids, product features) is kept in
//! the coordinator's own SQLite storage (`coordinator::storage::Facts`), keyed by run id. Its
//! position and counts are the D1 `runs` row: each step ends with `repo::runs::advance` guarded
//! by the step number, and a step's incident counts are added in the batch of its incident
//! changes, guarded the same way, so a step that is repeated after a crash re-plans against
//! what the first attempt committed, opens nothing twice and counts nothing twice.

mod book;
#[cfg(feature = "edge")]
mod start;
#[cfg(feature = "coordinator")]
mod step;

#[cfg(feature = "edge")]
pub use parityrail_core::rows::runs::view;
#[cfg(feature = "edge")]
pub use start::{not_now, start};
#[cfg(feature = "coordinator")]
pub use step::{abandon, step};
