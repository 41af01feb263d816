//! Client-side time limits. The server's `statement_timeout` only helps while the server is
//! well; a stuck or hostile one (it accepts the query and never answers, or the network stops
//! forwarding) must not hold a request. `ReadSession` therefore gives the handshake, every
//! statement and the whole session a limit kept by the client, with a `Timer` port so it runs
//! natively (tokio) and on wasm32 (`worker::Delay`, `Date.now()`).

use super::error::{PgError, PgErrorKind};
use super::queries::{begin_read_session, handshake, probe, rows_by_keys, AppRow};
use super::queries::{Probe, STATEMENT_TIMEOUT_MS};
use crate::domain::integrations::DbUrl;
use crate::domain::sqlident::{SqlIdent, TableName};
use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::tls::TlsConnect;
use tokio_postgres::{Client, Connection};

/// Default limit on the TCP connect, TLS and Postgres handshake together.
pub const CONNECT_TIMEOUT_MS: u32 = 10_000;
/// Default limit on everything one session waits for, from the first byte on.
pub const SESSION_TIMEOUT_MS: u32 = 30_000;

/// The clock and the sleep the limits need.
#[allow(async_fn_in_trait)]
pub trait Timer {
    /// Milliseconds since any fixed origin.
    fn now_ms(&self) -> u64;
    /// Resolves after `ms` milliseconds.
    async fn sleep(&self, ms: u32);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// TCP connect, TLS and the Postgres handshake.
    pub connect_ms: u32,
    /// Each statement: kept by the client, and sent as the server's `statement_timeout`.
    pub statement_ms: u32,
    /// Everything the session waits for, handshake included. No statement starts past it.
    pub session_ms: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect_ms: CONNECT_TIMEOUT_MS,
            statement_ms: STATEMENT_TIMEOUT_MS,
            session_ms: SESSION_TIMEOUT_MS,
        }
    }
}

/// Runs `work` for at most `ms`: past it the work is dropped and the answer is `Timeout`.
pub async fn within<T: Timer, R>(
    timer: &T,
    ms: u32,
    work: impl Future<Output = Result<R, PgError>>,
) -> Result<R, PgError> {
    let mut work = pin!(work);
    let mut alarm = pin!(timer.sleep(ms));
    poll_fn(|cx| {
        if let Poll::Ready(r) = work.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        match alarm.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(PgError::new(PgErrorKind::Timeout))),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// A connection whose every wait is bounded: the handshake within `connect_ms`, each
/// statement within `min(statement_ms, time left in the session)`. After a client-side timeout
/// the connection is in an unknown state and every later statement fails at once (`Timeout`).
/// `ReadSession` and `RepairSession` are the two things built on it.
pub struct Bounded<T> {
    client: Client,
    timer: T,
    statement_ms: u32,
    deadline_ms: u64,
    timed_out: Cell<bool>,
}

impl<T: Timer> Bounded<T> {
    /// Runs the Postgres handshake over `stream` (within `connect_ms`) and hands the connection
    /// to `spawn` (the caller's executor); the session limit starts now.
    pub async fn connect<S, Tls, Sp>(
        stream: S,
        tls: Tls,
        url: &DbUrl,
        timer: T,
        limits: Limits,
        spawn: Sp,
    ) -> Result<Self, PgError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        Tls: TlsConnect<S>,
        Sp: FnOnce(Connection<S, Tls::Stream>),
    {
        let deadline_ms = timer.now_ms() + u64::from(limits.session_ms);
        let connect_ms = limits.connect_ms.min(limits.session_ms);
        let (client, connection) = within(&timer, connect_ms, handshake(stream, tls, url)).await?;
        spawn(connection);
        Ok(Bounded {
            client,
            timer,
            statement_ms: limits.statement_ms,
            deadline_ms,
            timed_out: Cell::new(false),
        })
    }

    pub fn statement_ms(&self) -> u32 {
        self.statement_ms
    }

    /// Runs one statement (or a few, pipelined) on the session's client within the limits.
    pub async fn run<'a, R, E, F>(&'a self, op: impl FnOnce(&'a Client) -> F) -> Result<R, PgError>
    where
        F: Future<Output = Result<R, E>>,
        E: Into<PgError>,
    {
        let ms = self.budget()?;
        let work = async { op(&self.client).await.map_err(Into::into) };
        let outcome = within(&self.timer, ms, work).await;
        if matches!(&outcome, Err(e) if e.kind == PgErrorKind::Timeout && e.sqlstate.is_none()) {
            self.timed_out.set(true);
        }
        outcome
    }

    /// The time this statement may take, or `Timeout` when the session has none left.
    fn budget(&self) -> Result<u32, PgError> {
        let left = self.deadline_ms.saturating_sub(self.timer.now_ms());
        if self.timed_out.get() || left == 0 {
            self.timed_out.set(true);
            return Err(PgError::new(PgErrorKind::Timeout));
        }
        Ok(left.min(u64::from(self.statement_ms)) as u32)
    }
}

/// A read-only session whose every wait is bounded. It exists only once the handshake and
/// `begin_read_session` succeeded, so nothing runs on it before the read-only guard.
pub struct ReadSession<T>(Bounded<T>);

impl<T: Timer> ReadSession<T> {
    /// Connects (`Bounded::connect`) and makes the session read-only.
    pub async fn open<S, Tls, Sp>(
        stream: S,
        tls: Tls,
        url: &DbUrl,
        timer: T,
        limits: Limits,
        spawn: Sp,
    ) -> Result<Self, PgError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        Tls: TlsConnect<S>,
        Sp: FnOnce(Connection<S, Tls::Stream>),
    {
        let session = ReadSession(Bounded::connect(stream, tls, url, timer, limits, spawn).await?);
        session
            .run(|c| begin_read_session(c, limits.statement_ms))
            .await?;
        Ok(session)
    }

    /// Runs one statement (or a few, pipelined) on the session's client within the limits.
    pub async fn run<'a, R, E, F>(&'a self, op: impl FnOnce(&'a Client) -> F) -> Result<R, PgError>
    where
        F: Future<Output = Result<R, E>>,
        E: Into<PgError>,
    {
        self.0.run(op).await
    }

    /// The connection test (`probe`), within the limits.
    pub async fn probe(&self) -> Result<Probe, PgError> {
        self.run(probe).await
    }

    /// `rows_by_keys`, within the limits.
    pub async fn rows_by_keys(
        &self,
        table: &TableName,
        key_col: &SqlIdent,
        columns: &[SqlIdent],
        capped: &[SqlIdent],
        keys: &[String],
    ) -> Result<Vec<AppRow>, PgError> {
        self.run(|c| rows_by_keys(c, table, key_col, columns, capped, keys))
            .await
    }

    /// `rows_after` (a keyset scan step), within the limits.
    pub async fn rows_after(
        &self,
        table: &TableName,
        key_col: &SqlIdent,
        columns: &[SqlIdent],
        capped: &[SqlIdent],
        after: &str,
        limit: u32,
    ) -> Result<Vec<AppRow>, PgError> {
        self.run(|c| super::queries::rows_after(c, table, key_col, columns, capped, after, limit))
            .await
    }

    /// `repair_grants`, within the limits.
    pub async fn repair_grants(
        &self,
        table: &TableName,
        allowlist: &[SqlIdent],
    ) -> Result<super::queries::RepairGrants, PgError> {
        self.run(|c| super::queries::repair_grants(c, table, allowlist))
            .await
    }

    /// `table_columns`, within the limits.
    pub async fn table_columns(&self, table: &TableName) -> Result<Vec<(String, String)>, PgError> {
        self.run(|c| super::queries::table_columns(c, table)).await
    }
}
