//! The webhook outbox's drain (SPEC §7) as a state machine over two small ports, tested here
//! with in-memory fakes: the store of outbox rows (D1 at the edge) and the check of a batch of
//! customers (Stripe and the app database at the edge).
//!
//! What it keeps: every pending row of one customer is answered by one check; a row is done
//! only after a check that started after the row was read succeeded; a failed check leaves every
//! pending row of its customer waiting, retried with backoff (a day when only a person can end
//! the failure); a row that arrives while its customer is checked stays pending and due, so no
//! event is answered by a read that may predate it; nothing is dropped.

use super::time::Timestamp;
use super::webhook::retry_after_secs;
use std::collections::{BTreeMap, BTreeSet};

/// One pending outbox row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct PendingRow {
    pub id: String,
    pub customer: String,
    /// Failed checks so far.
    pub attempts: i64,
}

/// What a failed check tells the drain.
pub trait CheckFailure {
    /// Only a person can end it (no mapping, no credential, ambiguous app rows).
    fn needs_a_person(&self) -> bool;
    /// The stable code recorded on the rows that wait.
    fn code(&self) -> String;
}

/// The outbox rows of one project.
#[allow(async_fn_in_trait)]
pub trait OutboxStore {
    type Error;
    /// Pending rows due by `now`, oldest first, at most `limit`.
    async fn due(&self, now: Timestamp, limit: u32) -> Result<Vec<PendingRow>, Self::Error>;
    /// The pending rows of `customer`, due or not, oldest first (a store may bound how many:
    /// the rest are answered by a later drain).
    async fn pending_of(&self, customer: &str) -> Result<Vec<PendingRow>, Self::Error>;
    /// Marks exactly `rows` done at `now` (nothing else).
    async fn done(&self, rows: &[PendingRow], now: Timestamp) -> Result<(), Self::Error>;
    /// Every row of `customer` still pending waits until `at`, one more attempt, `code`
    /// recorded.
    async fn retry_later(
        &self,
        customer: &str,
        code: &str,
        at: Timestamp,
    ) -> Result<(), Self::Error>;
    /// When the next pending row is due, if any row is pending.
    async fn next_due(&self) -> Result<Option<Timestamp>, Self::Error>;
}

/// Checks a batch of customers once each (re-reading Stripe and the app): each customer's
/// outcome, or one failure for the whole batch (the project cannot be checked at all).
#[allow(async_fn_in_trait)]
pub trait Checker {
    type Error: CheckFailure;
    async fn check(
        &self,
        customers: &[String],
    ) -> Result<BTreeMap<String, Result<(), Self::Error>>, Self::Error>;
}

/// What one drain did.
#[derive(Debug)]
pub struct Drained<E> {
    /// Customers checked (0: nothing was due, nothing was opened or read).
    pub checked: usize,
    /// Rows marked done.
    pub done: usize,
    /// The customers whose check failed, with why (their rows wait).
    pub failed: Vec<(String, E)>,
    /// When the outbox next has something due.
    pub next_due: Option<Timestamp>,
}

/// Rows read per drain to find its customers.
pub const DUE_ROWS_READ: u32 = 500;

/// One drain at `now`: at most `max_customers` customers with due rows, each checked once.
pub async fn drain<S, C, E>(
    store: &S,
    checker: &C,
    now: Timestamp,
    max_customers: usize,
) -> Result<Drained<E>, E>
where
    S: OutboxStore<Error = E>,
    C: Checker<Error = E>,
    E: CheckFailure + Clone,
{
    let due = store.due(now, DUE_ROWS_READ).await?;
    let mut customers = BTreeSet::new();
    for row in &due {
        if customers.len() == max_customers {
            break;
        }
        customers.insert(row.customer.clone());
    }
    if customers.is_empty() {
        return Ok(Drained {
            checked: 0,
            done: 0,
            failed: Vec::new(),
            next_due: store.next_due().await?,
        });
    }
    let customers: Vec<String> = customers.into_iter().collect();
    // Read before the check starts: rows that arrive while it runs are not in these lists, so
    // they stay pending and are checked again.
    let mut rows = Vec::with_capacity(customers.len());
    for customer in &customers {
        rows.push(store.pending_of(customer).await?);
    }
    let mut outcomes = checker.check(&customers).await;
    let mut drained = Drained {
        checked: customers.len(),
        done: 0,
        failed: Vec::new(),
        next_due: None,
    };
    for (customer, rows) in customers.iter().zip(rows) {
        let outcome = match &mut outcomes {
            Err(e) => Err(e.clone()),
            Ok(map) => match map.remove(customer) {
                Some(Ok(())) => Ok(()),
                Some(Err(e)) => Err(e),
                // Not answered: its rows stay due for the next drain.
                None => continue,
            },
        };
        match outcome {
            Ok(()) => {
                store.done(&rows, now).await?;
                drained.done += rows.len();
            }
            // Every pending row of the customer waits, not only the ones this check read: the
            // rest would otherwise be due at once, and check the same failing database again.
            Err(e) => {
                let attempts = rows.iter().map(|r| r.attempts).max().unwrap_or(0);
                let at = now.plus_seconds(retry_after_secs(e.needs_a_person(), attempts));
                store.retry_later(customer, &e.code(), at).await?;
                drained.failed.push((customer.clone(), e));
            }
        }
    }
    drained.next_due = store.next_due().await?;
    Ok(drained)
}

#[cfg(test)]
mod tests;
