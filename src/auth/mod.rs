//! Authentication and authorisation: the first thing every `/v1` route does. The route guard
//! (`guard`) runs it for every declared route, enforcing that route's guard from the core's one
//! route declaration; the extractors (`extract`) hand its result to handlers. `principal` turns a
//! key into a `Principal` and a project id into a `ProjectScope` (the tenancy check), `limits`
//! applies the rate limits, `operator` checks the operator token, `webhook` a Stripe delivery,
//! `system` is what cron and Durable Objects may reach, `grants` the permissions that exist as
//! values, and `scope` the tenant-scoped D1 access only this module can open. The coordinator's
//! worker authenticates no request: it has the principal's types (a change's `By`), the sealed
//! caller's check, `system`, `grants` and `scope`; the rest is the edge's.

#[cfg(feature = "edge")]
pub mod extract;
pub mod grants;
#[cfg(feature = "edge")]
pub mod guard;
#[cfg(feature = "edge")]
pub mod limits;
#[cfg(feature = "edge")]
pub mod operator;
pub mod principal;
pub mod scope;
#[cfg(feature = "edge")]
pub mod session;
pub mod system;
#[cfg(feature = "edge")]
pub mod webhook;
