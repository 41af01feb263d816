//! ParityRail: one Cloudflare Worker that keeps what Stripe bills in parity with what the
//! application grants. `domain` is pure Rust, tested natively; `edge` is the wasm32-only glue to
//! the Workers runtime (HTTP, D1, Durable Objects, R2, cron). See ARCHITECTURE.md.

pub mod api;
pub mod domain;
pub mod fault;
pub mod pg;
pub mod stripe;

#[cfg(target_arch = "wasm32")]
mod edge;
