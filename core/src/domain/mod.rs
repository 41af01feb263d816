//! Pure ParityRail logic: the rules and the engines over ports. Nothing in here imports
//! `worker` (this crate cannot): every module is plain Rust that `cargo test` exercises
//! natively in milliseconds. The adapter crate (wasm32 only) implements the ports over D1,
//! Durable Objects, R2 and HTTP.

pub mod access;
pub mod alerts;
pub mod apikey;
pub mod append;
pub mod approval;
pub mod audit;
pub mod auto_approve;
pub mod base62;
pub mod bundle;
pub mod canonical;
pub mod check_entries;
pub mod checkpoints;
pub mod checks;
pub mod coordinator;
pub mod credentials;
pub mod events;
pub mod exports;
pub mod hooks;
pub mod ids;
pub mod incidents;
pub mod input;
pub mod integrations;
pub mod mail;
pub mod mapping;
pub mod outbox;
pub mod ports;
pub mod prune;
pub mod ratelimit;
pub mod reconcile;
pub mod records;
pub mod repair_plan;
pub mod repairs;
pub mod rewrap;
pub mod roles;
pub mod run_step;
pub mod runs;
pub mod scrub;
pub mod security_txt;
pub mod sessions;
pub mod signing;
pub mod sqlident;
pub mod store;
pub mod tenancy;
#[cfg(test)]
pub mod test_support;
pub mod time;
pub mod vault;
pub mod webhook;
