//! HTTP handlers, one file per resource, for the routes `api::routes` declares. A handler's
//! signature says what it needs: `Principal` (org route), `InProject` (project route, tenancy
//! and role already checked), `Operator`, `VerifiedWebhook`; the body is parsed only after those.
//! Handlers answer `ApiResult`: what they call answers `Fault`, turned into a status and code by
//! `api::error` (`?`); the refusals a handler makes itself (a field, a role) are `ApiError`s.

pub mod audit;
pub mod customers;
pub mod exports;
pub mod hooks;
pub mod incidents;
pub mod integrations;
pub mod keys;
pub mod mapping;
pub mod mcp;
pub mod members;
pub mod meta;
pub mod operator;
pub mod org;
pub mod projects;
pub mod reads;
pub mod repairs;
pub mod runs;
pub mod sessions;
pub mod webhooks;

pub use parityrail_core::api::query::{customer_filter, PageQuery};
