//! Alert e-mail, the adapter side of `domain::alerts`: incidents queued in the batch that opens
//! them (`queue`, called by `reconcile` in both workers), and the drain the project's Durable
//! Object runs with its outbox drain (`drain`, in the coordinator's worker): digests stored in
//! D1 and sent through Resend with the digest's id as the `Idempotency-Key`; a sent or failed
//! digest is recorded on the project's chain (`alert.sent`, `alert.failed`) in the batch that
//! settles it. Off unless `RESEND_API_KEY` is set: nothing is queued.

#[cfg(feature = "coordinator")]
mod drain;
mod queue;

#[cfg(feature = "coordinator")]
pub use drain::drain;
#[cfg(feature = "edge")]
pub use queue::on;
pub use queue::queue;
