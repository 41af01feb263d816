//! The customer's Postgres (SPEC §4, §6): read sessions that are read-only before their first
//! query, batched reads by key, and the connection test. Builds natively and on wasm32: the
//! caller brings the byte stream (a `TcpStream` in tests, a `worker::Socket` at the edge), the
//! executor for the connection future and a `Timer`. `ReadSession` bounds the handshake, every
//! statement and the whole session on the client side (`session`); `classify` is the one place a
//! driver error becomes a `PgErrorKind`, TLS failures included (`tls`).

mod error;
mod queries;
mod repair;
mod session;
mod tls;

pub use error::{classify, PgError, PgErrorKind};
pub use queries::*;
pub use repair::{Outcome, RepairSession, LOCK_TIMEOUT_MS};
pub use session::{
    within, Bounded, Limits, ReadSession, Timer, CONNECT_TIMEOUT_MS, SESSION_TIMEOUT_MS,
};
pub use tls::{RefusedByRuntime, RuntimeTls, TlsHandshakeFailed, TlsWatch};

#[cfg(test)]
mod tests;
