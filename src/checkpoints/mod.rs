//! Signed checkpoints (SPEC §9): the edge's cron signs (`sign`) `{chain, size, head_hash, time,
//! environment}` for every chain whose head moved, with the org's key, and writes it to R2
//! (`checkpoints/<org>/<chain>.json`, the newest replacing the one before). The protocol is
//! `domain::checkpoints` (verified extension, the note moved first by compare-and-swap, the
//! object put on the ETag read before); `store` is its store over D1 and R2, which both workers
//! read (`trusted`: an export holds its entries to the checkpoint).
//! `GET …/audit/verify` holds the chain to its checkpoint: a deleted tail is reported as
//! `truncated`.

#[cfg(feature = "edge")]
mod sign;
mod store;

#[cfg(feature = "edge")]
pub use sign::sign_due;
#[cfg(feature = "edge")]
pub use store::seen;
pub use store::{trusted, Trusted};
