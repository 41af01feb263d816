//! Permissions that exist as values: raw D1 access (`RawDb`, held only by the auth module) and
//! the system's right to walk every tenant (`SystemGrant`, made only from an `EntryPoint`). An
//! `EntryPoint` is made only where the platform enters the worker: the cron handler (with its
//! `ScheduleContext`) and the project's Durable Object (with its `State`). The types make that
//! the easy path, not the only one (worker can build either value from raw JS), so
//! `tests/layout` holds it by name: `EntryPoint::` appears in those two places only, and no
//! adapter code conjures a platform value.

/// Permission to open raw D1 (`Services::db`); only the auth module holds one.
pub struct RawDb(());
pub(super) const RAW: RawDb = RawDb(());

/// One of the platform's entry points (see the module doc for what holds it there).
pub struct EntryPoint(());

impl EntryPoint {
    /// The cron handler (the platform hands it a `ScheduleContext`).
    pub(crate) fn cron(_: &worker::ScheduleContext) -> Self {
        EntryPoint(())
    }

    /// A Durable Object (the platform hands it its `State`).
    pub(crate) fn durable_object(_: &worker::State) -> Self {
        EntryPoint(())
    }
}

/// Proof that the caller is a system entry point (the cron handler or a Durable Object's alarm),
/// the only code allowed to walk every tenant.
pub struct SystemGrant(());

impl SystemGrant {
    pub(crate) fn for_entry_point(_: EntryPoint) -> Self {
        SystemGrant(())
    }
}
