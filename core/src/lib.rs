//! The ParityRail core: everything that does not need the Workers runtime, tested natively.
//! `domain` holds the rules and the engines over ports; `api` the HTTP contract of SPEC §14
//! (routes as data, the error shape, typed paths); `fault` what can go wrong and how it reads;
//! `pg` and `stripe` the connectors to the customer's Postgres and to Stripe. No module here
//! depends on `worker`; the adapter crate (`parityrail`, the repository root) binds it to
//! Workers. See ARCHITECTURE.md.

pub mod api;
pub mod domain;
pub mod fault;
pub mod pg;
pub mod rows;
pub mod stripe;
