//! The project coordinators: the `ProjectCoordinator` Durable Object (one per project) and the
//! one client every caller reaches it through. They are two Workers (ARCHITECTURE.md, "Two
//! workers"): the edge worker (feature `edge`) holds only `client`, which sends the operations of
//! `api::coordinator` to the object's stub (bound across scripts); the script
//! `parityrail-coordinator` (feature `coordinator`) holds the object (`object`), its storage and
//! the work its alarms drive (`steps`, `approvals`).

#[cfg(feature = "coordinator")]
mod approvals;
#[cfg(feature = "edge")]
pub mod client;
#[cfg(feature = "coordinator")]
mod object;
#[cfg(feature = "coordinator")]
mod steps;
#[cfg(feature = "coordinator")]
pub mod storage;
