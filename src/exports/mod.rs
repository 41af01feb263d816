//! Export bundles (SPEC §10), across the two workers: at the edge `start` fixes the range
//! (sequence numbers of the project chain, times resolved to them), records the export with
//! `export.created` and hands it to the project's `ProjectCoordinator`; in the coordinator's
//! worker, its alarm calls `step` until the engine (`domain::exports`) has written every file in
//! R2 in parts, then the manifest is signed with the org's key (`crate::signing`) and the export
//! ends (`end`) `succeeded` with `export.completed`. Downloads (the edge) stream from R2 and are
//! audited (`export.downloaded`) before a byte leaves.

mod end;
#[cfg(feature = "edge")]
mod start;
#[cfg(feature = "coordinator")]
mod step;

#[cfg(feature = "coordinator")]
pub use end::end;
#[cfg(feature = "edge")]
pub use parityrail_core::rows::exports::view;
#[cfg(feature = "edge")]
pub use start::{download, start};
#[cfg(feature = "coordinator")]
pub use step::{step, Next};
