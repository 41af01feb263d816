//! The Workers runtime glue (wasm32 only): entry points (`entry`), the services built from the
//! `Env` (`services`), authentication and tenancy as extractors (`auth`), the handlers of the
//! routes `api::routes` declares, the D1 repositories, and the Durable Objects.

mod audit;
pub(crate) mod auth;
mod checkpoints;
mod connectors;
mod coordinator;
mod entry;
mod error;
mod exports;
pub(crate) mod handlers;
mod http;
mod jobs;
mod objects;
mod project_io;
mod rate_limiter;
mod reconcile;
mod repairs;
mod repo;
mod runs;
mod services;
mod signing;
mod unread;
mod vault;
mod webhooks;

pub(crate) use http::App;
