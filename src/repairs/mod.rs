//! Repairs (SPEC §8), across the two workers. In the coordinator's worker (`approve`): the
//! platform an approval runs on (`ProjectDesk`, the port of `domain::approval`, whose engine
//! claims, executes, records and verifies a repair), run by the project's `ProjectCoordinator`
//! (so approvals of one project are serialised), and the pending grants a project approves on
//! its own (`domain::auto_approve::select` over D1). At the edge (`reject`): rejection. Both:
//! the API view (`view`).

#[cfg(feature = "coordinator")]
mod approve;
#[cfg(feature = "edge")]
mod reject;
mod view;

#[cfg(feature = "coordinator")]
pub use approve::{approve, auto_approvable, recover};
#[cfg(feature = "edge")]
pub use reject::reject;
pub use view::view;
