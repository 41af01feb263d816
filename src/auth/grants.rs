//! Permissions that exist as values: raw D1 access (`RawDb`, held only by the auth module) and
//! the system's right to walk every tenant (`SystemGrant`, made only from an `EntryPoint`, which
//! only the platform's own entry points can produce: the cron handler from its
//! `ScheduleContext`, a Durable Object from its `State`).

/// Permission to open raw D1 (`Services::db`); only the auth module holds one.
pub struct RawDb(());
pub(super) const RAW: RawDb = RawDb(());

/// One of the platform's entry points, proven by what only the platform hands it.
pub struct EntryPoint(());

impl EntryPoint {
    /// The cron handler (the platform hands it a `ScheduleContext`).
    pub fn cron(_: &worker::ScheduleContext) -> Self {
        EntryPoint(())
    }

    /// A Durable Object (the platform hands it its `State`).
    pub fn durable_object(_: &worker::State) -> Self {
        EntryPoint(())
    }
}

/// Proof that the caller is a system entry point (the cron handler or a Durable Object's alarm),
/// the only code allowed to walk every tenant.
pub struct SystemGrant(());

impl SystemGrant {
    pub fn for_entry_point(_: EntryPoint) -> Self {
        SystemGrant(())
    }
}
