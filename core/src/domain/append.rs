//! The audit append protocol (SPEC §9): how a change and the entry recording it land together,
//! and why a chain never forks and an entry's `before` is always exact.
//!
//! 1. Read the chain head *first*.
//! 2. Run the operation: it reads the state it changes and returns the drafts and the changes
//!    (or `Done` when there is nothing to record).
//! 3. Seal the drafts after that head (`at` never before the head's) and commit entries and
//!    changes atomically.
//! 4. Every change to a chain's state appends to that chain, so if the state moved after step 1
//!    its writer took `head + 1` first: the commit fails `Contended`, nothing of it is applied,
//!    and the protocol starts again at step 1 after a jittered back-off — at most
//!    `MAX_ATTEMPTS` times, then `Exhausted`.
//! 5. A store too busy to take the commit (it applied nothing) is tried the same way, at most
//!    `BUSY_ATTEMPTS` times, then its error stands: a transient refusal is not the caller's
//!    error. A commit whose outcome is unknown (the connection lost) is never tried again.

use super::audit::{entry_time, AuditEntry, Draft};
use super::store::{AuditLog, ChainHead, Sleep, StoreError};
use super::time::Timestamp;
use std::future::Future;

/// Attempts before giving up under contention.
pub const MAX_ATTEMPTS: u32 = 40;
/// Commits a busy store refused before its error stands.
pub const BUSY_ATTEMPTS: u32 = 3;
/// The pause after a busy store's first refusal (doubled after the second), besides jitter.
pub const BUSY_PAUSE_MS: u32 = 150;

/// What an operation decided, given the head it started from.
pub enum Step<T, C> {
    /// Record `drafts` (in order) and apply `changes` with them; the result is `value`.
    Commit {
        drafts: Vec<Draft>,
        changes: Vec<C>,
        value: T,
    },
    /// Nothing to change or record (e.g. revoking a key already revoked).
    Done(T),
}

impl<T, C> Step<T, C> {
    pub fn commit(drafts: Vec<Draft>, changes: Vec<C>, value: T) -> Self {
        Step::Commit {
            drafts,
            changes,
            value,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum AppendError<E> {
    /// The operation itself refused (not found, forbidden, bad input…).
    Op(E),
    /// The store failed with something other than contention.
    Store(StoreError),
    /// Still contended after `MAX_ATTEMPTS`.
    Exhausted,
}

/// The entries `drafts` become when appended after `head` at `now`.
pub fn seal_after(head: Option<&ChainHead>, drafts: Vec<Draft>, now: Timestamp) -> Vec<AuditEntry> {
    let at = entry_time(now, head.map(|h| h.at.as_str()));
    let mut prev = head.map(|h| (h.seq, h.hash.clone()));
    drafts
        .into_iter()
        .map(|d| {
            let e = d.seal(prev.as_ref().map(|(s, h)| (*s, h.as_str())), at);
            prev = Some((e.seq, e.hash.clone()));
            e
        })
        .collect()
}

/// Milliseconds to wait after the `attempt`-th contended commit (0-based): grows with the
/// attempt up to 40 ms, plus 0–19 ms of jitter so contenders spread out.
pub fn backoff_ms(attempt: u32, jitter: u8) -> u32 {
    attempt.min(8) * 5 + u32::from(jitter % 20)
}

/// Runs `op` under the protocol above on `chain` of `log`. `jitter` supplies one random byte
/// per back-off.
pub async fn append<L, S, T, E, F, Fut>(
    log: &L,
    sleep: &S,
    chain: &str,
    now: Timestamp,
    mut jitter: impl FnMut() -> u8,
    mut op: F,
) -> Result<T, AppendError<E>>
where
    L: AuditLog,
    S: Sleep,
    F: FnMut(Option<ChainHead>) -> Fut,
    Fut: Future<Output = Result<Step<T, L::Change>, E>>,
{
    let mut busy = 0;
    for attempt in 0..MAX_ATTEMPTS {
        let head = log.head(chain).await.map_err(AppendError::Store)?;
        let (drafts, changes, value) = match op(head.clone()).await.map_err(AppendError::Op)? {
            Step::Done(value) => return Ok(value),
            Step::Commit {
                drafts,
                changes,
                value,
            } => (drafts, changes, value),
        };
        let entries = seal_after(head.as_ref(), drafts, now);
        match log.commit(chain, &entries, changes).await {
            Ok(()) => return Ok(value),
            Err(StoreError::Contended) => sleep.sleep(backoff_ms(attempt, jitter())).await,
            Err(StoreError::Busy) if busy + 1 < BUSY_ATTEMPTS => {
                busy += 1;
                // A busy store is given time to recover, not the contention back-off.
                sleep
                    .sleep(busy * BUSY_PAUSE_MS + backoff_ms(attempt, jitter()))
                    .await;
            }
            Err(e) => return Err(AppendError::Store(e)),
        }
    }
    Err(AppendError::Exhausted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::audit::{Action, Actor, ChainVerifier, Verification, GENESIS_HASH};
    use crate::domain::store::{MemChange, MemoryAudit, RecordedSleep};
    use serde_json::json;
    use std::cell::Cell;

    type Log = MemoryAudit<i64>;

    fn draft(before: i64, after: i64) -> Draft {
        Draft::new(
            Actor::System("test"),
            Action::ProjectUpdated,
            "counter",
            json!(before),
            json!(after),
        )
    }

    fn set(v: i64) -> MemChange<i64> {
        Box::new(move |s| {
            *s = v;
            Ok(())
        })
    }

    /// Adds `by` to the counter, recording before and after, under the protocol.
    async fn add(log: &Log, sleep: &RecordedSleep, by: i64) -> Result<i64, AppendError<()>> {
        append(
            log,
            sleep,
            "c",
            Timestamp::from_millis(1_000),
            || 7,
            |_head| async move {
                let before = *log.state.borrow();
                Ok(Step::commit(
                    vec![draft(before, before + by)],
                    vec![set(before + by)],
                    before + by,
                ))
            },
        )
        .await
    }

    fn verify(log: &Log) -> Verification {
        let mut v = ChainVerifier::default();
        for e in log.chains.borrow().get("c").into_iter().flatten() {
            v.push(e);
        }
        v.finish()
    }

    #[tokio::test]
    async fn the_first_append_opens_the_chain_and_applies_its_change() {
        let (log, sleep) = (Log::default(), RecordedSleep::default());
        assert_eq!(add(&log, &sleep, 5).await, Ok(5));
        let chain = log.chains.borrow()["c"].clone();
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].seq, 1);
        assert_eq!(chain[0].prev_hash, GENESIS_HASH);
        assert_eq!(*log.state.borrow(), 5);
        assert!(matches!(verify(&log), Verification::Ok { entries: 1, .. }));
    }

    #[tokio::test]
    async fn a_change_that_lands_between_head_and_commit_makes_the_operation_run_again() {
        let (log, sleep) = (Log::default(), RecordedSleep::default());
        let runs = Cell::new(0);
        let out = append(
            &log,
            &sleep,
            "c",
            Timestamp::from_millis(1_000),
            || 3,
            |_head| {
                let runs = &runs;
                let log = &log;
                async move {
                    runs.set(runs.get() + 1);
                    let before = *log.state.borrow();
                    if runs.get() == 1 {
                        // Another writer appends after our head read and before our commit.
                        let head = log.head("c").await.map_err(|_| ())?;
                        let theirs = seal_after(
                            head.as_ref(),
                            vec![draft(before, 100)],
                            Timestamp::from_millis(900),
                        );
                        log.commit("c", &theirs, vec![set(100)])
                            .await
                            .map_err(|_| ())?;
                    }
                    Ok::<_, ()>(Step::commit(
                        vec![draft(before, before + 1)],
                        vec![set(before + 1)],
                        before + 1,
                    ))
                }
            },
        )
        .await;
        assert_eq!(out, Ok(101));
        assert_eq!(runs.get(), 2);
        assert_eq!(sleep.0.borrow().as_slice(), &[3]);
        let chain = log.chains.borrow()["c"].clone();
        assert_eq!(chain.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
        // The retried entry's `before` is the state the other writer left: exact, not stale.
        assert_eq!(chain[1].before, json!(100));
        assert!(matches!(verify(&log), Verification::Ok { entries: 2, .. }));
    }

    #[tokio::test]
    async fn endless_contention_gives_up_after_the_attempts_and_applies_nothing() {
        let (log, sleep) = (Log::default(), RecordedSleep::default());
        let out: Result<(), AppendError<()>> = append(
            &log,
            &sleep,
            "c",
            Timestamp::from_millis(0),
            || 0,
            |_head| {
                let log = &log;
                async move {
                    let head = log.head("c").await.map_err(|_| ())?;
                    let theirs =
                        seal_after(head.as_ref(), vec![draft(0, 0)], Timestamp::from_millis(0));
                    log.commit("c", &theirs, vec![]).await.map_err(|_| ())?;
                    Ok(Step::commit(vec![draft(0, 1)], vec![set(1)], ()))
                }
            },
        )
        .await;
        assert_eq!(out, Err(AppendError::Exhausted));
        assert_eq!(sleep.0.borrow().len(), MAX_ATTEMPTS as usize);
        assert_eq!(*log.state.borrow(), 0);
        assert!(matches!(verify(&log), Verification::Ok { .. }));
    }

    /// Appends `+1` through a store that is busy for the first `busy` commits.
    async fn through_busy(busy: u32) -> (Result<(), AppendError<()>>, Log, RecordedSleep) {
        let (log, sleep) = (Log::default(), RecordedSleep::default());
        let refused = std::rc::Rc::new(Cell::new(0u32));
        let out = append(
            &log,
            &sleep,
            "c",
            Timestamp::from_millis(0),
            || 0,
            |_head| {
                let refused = refused.clone();
                async move {
                    let once: MemChange<i64> = Box::new(move |_| {
                        if refused.get() < busy {
                            refused.set(refused.get() + 1);
                            return Err(StoreError::Busy);
                        }
                        Ok(())
                    });
                    Ok(Step::commit(vec![draft(0, 1)], vec![once, set(1)], ()))
                }
            },
        )
        .await;
        (out, log, sleep)
    }

    #[tokio::test]
    async fn a_busy_store_is_tried_again_a_few_times_then_its_error_stands() {
        // Busy once or twice: the change lands once, after as many back-offs.
        for busy in 1..BUSY_ATTEMPTS {
            let (out, log, sleep) = through_busy(busy).await;
            assert_eq!(out, Ok(()), "busy {busy}");
            assert_eq!(*log.state.borrow(), 1);
            assert_eq!(log.chains.borrow()["c"].len(), 1);
            assert_eq!(sleep.0.borrow().len(), busy as usize);
        }
        // Busy every time: refused after BUSY_ATTEMPTS commits, nothing applied.
        let (out, log, _) = through_busy(u32::MAX).await;
        assert_eq!(out, Err(AppendError::Store(StoreError::Busy)));
        assert_eq!(*log.state.borrow(), 0);
        assert!(!log.chains.borrow().contains_key("c"));
    }

    #[tokio::test]
    async fn a_failing_change_rolls_back_the_whole_commit() {
        let (log, sleep) = (Log::default(), RecordedSleep::default());
        add(&log, &sleep, 1).await.unwrap_or_default();
        let out: Result<(), AppendError<()>> = append(
            &log,
            &sleep,
            "c",
            Timestamp::from_millis(0),
            || 0,
            |_head| async {
                let fail: MemChange<i64> = Box::new(|_| Err(StoreError::Duplicate("t.col".into())));
                Ok(Step::commit(vec![draft(1, 9)], vec![set(9), fail], ()))
            },
        )
        .await;
        assert_eq!(
            out,
            Err(AppendError::Store(StoreError::Duplicate("t.col".into())))
        );
        assert_eq!(*log.state.borrow(), 1);
        assert_eq!(log.chains.borrow()["c"].len(), 1);
    }

    #[tokio::test]
    async fn an_operation_with_nothing_to_record_appends_nothing() {
        let (log, sleep) = (Log::default(), RecordedSleep::default());
        let out: Result<i64, AppendError<()>> = append(
            &log,
            &sleep,
            "c",
            Timestamp::from_millis(0),
            || 0,
            |_| async { Ok(Step::Done(42)) },
        )
        .await;
        assert_eq!(out, Ok(42));
        assert!(log.chains.borrow().is_empty());
    }

    #[test]
    fn entries_follow_their_head_in_order_and_never_go_back_in_time() {
        let head = ChainHead {
            seq: 4,
            hash: "ab".repeat(32),
            at: Timestamp::from_millis(9_000).to_rfc3339(),
        };
        let entries = seal_after(
            Some(&head),
            vec![draft(0, 1), draft(1, 2)],
            Timestamp::from_millis(5_000),
        );
        assert_eq!(
            entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![5, 6]
        );
        assert_eq!(entries[0].prev_hash, head.hash);
        assert_eq!(entries[1].prev_hash, entries[0].hash);
        assert!(entries.iter().all(|e| e.at == head.at));
    }

    #[test]
    fn back_off_grows_then_stays_bounded() {
        assert_eq!(backoff_ms(0, 0), 0);
        assert_eq!(backoff_ms(1, 0), 5);
        assert_eq!(backoff_ms(8, 0), 40);
        assert_eq!(backoff_ms(100, 255), 40 + 15);
        assert!((0..200).all(|a| backoff_ms(a, 19) <= 59));
    }
}
