//! ParityRail's Workers adapter (wasm32 only): the Cloudflare Workers that bind the core
//! (`parityrail_core`) to the runtime. Entry points (`entry`), the services built from the `Env`
//! (`services`), authentication and tenancy (`auth`), a handler for every route the core
//! declares (`handlers`), the D1 repositories (`repo`) and the Durable Objects. See
//! ARCHITECTURE.md.
#![cfg(target_arch = "wasm32")]
// Two workers are built from this crate (ARCHITECTURE.md, "Two workers"), each from the modules
// behind its feature and the layers below them (repo, auth, audit, services…), which both link
// and each calls its own part of: a build of one leaves the other's part unused. Clippy on
// `--features edge,coordinator` (scripts/test.sh) holds the whole crate to what either uses.
#![cfg_attr(not(all(feature = "edge", feature = "coordinator")), allow(dead_code))]

#[cfg(not(any(feature = "edge", feature = "coordinator")))]
compile_error!("build one worker: feature `edge` (the default) or `coordinator`");

mod alerts;
mod audit;
pub(crate) mod auth;
mod checkpoints;
mod clock;
mod connectors;
mod coordinator;
#[cfg(feature = "edge")]
mod entry;
mod error;
mod exports;
#[cfg(feature = "edge")]
pub(crate) mod handlers;
mod hooks;
#[cfg(feature = "edge")]
mod http;
#[cfg(feature = "edge")]
mod jobs;
mod mail;
mod objects;
mod project_io;
#[cfg(feature = "edge")]
mod rate_limiter;
mod reconcile;
mod repairs;
mod repo;
#[cfg(feature = "edge")]
mod router;
mod runs;
mod services;
mod signing;
#[cfg(feature = "edge")]
mod unread;
mod vault;
mod webhooks;
