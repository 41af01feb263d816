//! Stripe webhooks (SPEC §7), across the two workers. At the edge (`record`): a verified delivery
//! recorded durably before it is acknowledged (the handler then wakes the project's coordinator
//! through `coordinator::client`), and the Events API recovery of dropped deliveries
//! (`domain::events` over D1 and Stripe). In the coordinator's worker (`drain`): the drain of
//! the outbox (every pending row of one customer answered by one check, a row done only when
//! its check succeeded). Events are hints: the drain re-reads the customer from Stripe and the
//! app, so an out-of-order or stale event cannot regress anything.

#[cfg(feature = "coordinator")]
mod drain;
#[cfg(feature = "edge")]
mod record;

#[cfg(feature = "coordinator")]
pub use drain::drain;
#[cfg(feature = "edge")]
pub use record::{record, recover, Recorded};
