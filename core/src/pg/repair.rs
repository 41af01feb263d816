//! The one write ParityRail makes to a customer's database (SPEC §8): a repair, on the repair
//! credential, in one transaction with a lock timeout and a statement timeout. It locks the
//! rows with the key (`SELECT … FOR UPDATE`), requires exactly one, compares the written
//! columns' live values with the expected *before* values (any difference: stale, nothing
//! written), updates exactly that row (its address and its key) with the values as parameters,
//! reads the row as written (`RETURNING`) and commits. Anything else rolls back. It takes only a
//! `domain::repair_plan::ExecPlan`, whose identifiers and columns were checked against the mapping
//! before any SQL exists.

use super::error::{PgError, PgErrorKind};
use super::queries::values_from;
use super::session::{Bounded, Limits, Timer};
use crate::domain::integrations::DbUrl;
use crate::domain::repair_plan::ExecPlan;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::TlsConnect;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Connection;

/// Default limit on waiting for another session's row lock.
pub const LOCK_TIMEOUT_MS: u32 = 2_000;

/// How a repair's transaction ended (nothing but `Executed` wrote anything).
pub type Outcome = crate::domain::approval::Outcome<PgError>;

/// A session on the repair credential. Unlike a `ReadSession` it may write, and only through
/// `execute`.
pub struct RepairSession<T> {
    inner: Bounded<T>,
    lock_ms: u32,
}

impl<T: Timer> RepairSession<T> {
    /// Connects (`Bounded::connect`); `lock_ms` bounds waiting for a row lock.
    pub async fn open<S, Tls, Sp>(
        stream: S,
        tls: Tls,
        url: &DbUrl,
        timer: T,
        limits: Limits,
        lock_ms: u32,
        spawn: Sp,
    ) -> Result<Self, PgError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        Tls: TlsConnect<S>,
        Sp: FnOnce(Connection<S, Tls::Stream>),
    {
        let inner = Bounded::connect(stream, tls, url, timer, limits, spawn).await?;
        Ok(RepairSession { inner, lock_ms })
    }

    /// Runs the repair in one transaction (four round trips when it writes: begin, lock,
    /// update, commit; parameters are typed, so no statement is prepared separately). On any error the transaction is rolled back (or dies with the
    /// connection), so nothing partial remains.
    ///
    /// `still_ours` is asked right before the COMMIT is sent: when it says no (the approval
    /// was taken over by a recovery), the transaction is rolled back (`Outcome::Fenced`).
    pub async fn execute(
        &self,
        plan: &ExecPlan,
        still_ours: &dyn Fn() -> bool,
    ) -> Result<Outcome, PgError> {
        let statement_ms = self.inner.statement_ms();
        let begin = format!(
            "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE; \
             SET LOCAL statement_timeout = {statement_ms}; SET LOCAL lock_timeout = {}; \
             SET LOCAL application_name = 'parityrail-repair'",
            self.lock_ms
        );
        self.inner
            .run(|c| c.batch_execute(&begin))
            .await
            .map_err(repair_error)?;
        match self.locked_work(plan).await {
            Ok(Some(Outcome::Executed { .. })) if !still_ours() => {
                self.rollback().await;
                Ok(Outcome::Fenced)
            }
            Ok(Some(Outcome::Executed { before, after })) => {
                match self.inner.run(|c| c.batch_execute("COMMIT")).await {
                    Ok(()) => Ok(Outcome::Executed { before, after }),
                    // The server refused the COMMIT and rolled back (a deferred constraint, a
                    // serialization failure): nothing was written. Any other failure (the
                    // connection ended, a pooler's own error, a shutdown) may have come after
                    // the commit was durable.
                    Err(e) if rolled_back_at_commit(&e) => Err(repair_error(e)),
                    Err(error) => Ok(Outcome::Unconfirmed {
                        before,
                        after,
                        error,
                    }),
                }
            }
            Ok(Some(refused)) => {
                self.rollback().await;
                Ok(refused)
            }
            Ok(None) => {
                self.rollback().await;
                Err(PgError::new(PgErrorKind::Query))
            }
            Err(e) => {
                self.rollback().await;
                Err(e)
            }
        }
    }

    /// Lock, compare, update. `None`: the update did not touch exactly the locked row.
    async fn locked_work(&self, plan: &ExecPlan) -> Result<Option<Outcome>, PgError> {
        let lock = plan.lock_sql();
        let rows = self
            .inner
            .run(|c| async move { c.query_typed(&lock, &[(&plan.key, Type::TEXT)]).await })
            .await
            .map_err(repair_error)?;
        let row = match rows.as_slice() {
            [] => return Ok(Some(Outcome::Missing)),
            [row] => row,
            _ => return Ok(Some(Outcome::Duplicate)),
        };
        let ctid: String = row.try_get(0)?;
        let before = values_from(row, 1, &plan.read)?;
        let columns = plan.stale_columns(&before);
        if !columns.is_empty() {
            return Ok(Some(Outcome::Stale {
                live: before,
                columns,
            }));
        }
        let mut params: Vec<(Box<dyn ToSql + Sync + Send>, Type)> = Vec::new();
        for (_, c) in &plan.writes {
            match &c.after {
                Value::Bool(b) => params.push((Box::new(*b), Type::BOOL)),
                Value::String(s) => params.push((Box::new(s.clone()), Type::TEXT)),
                _ => return Err(PgError::new(PgErrorKind::UnsupportedType)),
            }
        }
        params.push((Box::new(ctid), Type::TEXT));
        params.push((Box::new(plan.key.clone()), Type::TEXT));
        let typed: Vec<(&(dyn ToSql + Sync), Type)> = params
            .iter()
            .map(|(p, t)| (p.as_ref() as &(dyn ToSql + Sync), t.clone()))
            .collect();
        let update = plan.update_sql();
        // Typed parameters: one round trip each (no separate prepare).
        let written = self
            .inner
            .run(|c| async move { c.query_typed(&update, &typed).await })
            .await
            .map_err(repair_error)?;
        match written.as_slice() {
            [row] => Ok(Some(Outcome::Executed {
                before,
                after: values_from(row, 0, &plan.read)?,
            })),
            _ => Ok(None),
        }
    }

    /// Best effort: a broken connection rolls back on the server by itself.
    async fn rollback(&self) {
        let _ = self.inner.run(|c| c.batch_execute("ROLLBACK")).await;
    }
}

/// SQLSTATE classes with which a server refuses a COMMIT and rolls the transaction back:
/// integrity constraints (deferred ones are checked at commit) and transaction rollback
/// (serialization failures, deadlocks).
fn rolled_back_at_commit(e: &PgError) -> bool {
    e.sqlstate
        .as_deref()
        .is_some_and(|s| s.starts_with("23") || s.starts_with("40"))
}

/// A repair's failures, told apart where the repair role's grants or another session's lock
/// are the cause.
fn repair_error(e: PgError) -> PgError {
    let is = |state: &SqlState| e.sqlstate.as_deref() == Some(state.code());
    if is(&SqlState::INSUFFICIENT_PRIVILEGE) {
        PgError {
            kind: PgErrorKind::NotPermitted,
            ..e
        }
    } else if is(&SqlState::LOCK_NOT_AVAILABLE) {
        PgError {
            kind: PgErrorKind::Locked,
            ..e
        }
    } else {
        e
    }
}
