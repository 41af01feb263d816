//! ParityRail's Workers adapter (wasm32 only): the Cloudflare Worker that binds the core
//! (`parityrail_core`) to the runtime. Entry points (`entry`), the services built from the `Env`
//! (`services`), authentication and tenancy (`auth`), a handler for every route the core
//! declares (`handlers`), the D1 repositories (`repo`) and the Durable Objects. See
//! ARCHITECTURE.md.
#![cfg(target_arch = "wasm32")]

mod alerts;
mod audit;
pub(crate) mod auth;
mod checkpoints;
mod clock;
mod connectors;
mod coordinator;
mod entry;
mod error;
mod exports;
pub(crate) mod handlers;
mod hooks;
mod http;
mod jobs;
mod mail;
mod objects;
mod project_io;
mod rate_limiter;
mod reconcile;
mod repairs;
mod repo;
mod router;
mod runs;
mod services;
mod signing;
mod unread;
mod vault;
mod webhooks;
