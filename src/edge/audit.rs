//! Writing audit entries together with the change they record. `commit` reads the chain head,
//! seals the drafts after it, and runs the change statements and the audit inserts as one D1
//! batch. Two concurrent commits to one chain compete for the same `(chain, seq)` primary key:
//! the loser's whole batch (change included) rolls back and `retrying` runs the operation again
//! from its reads, so a chain never forks and no change is ever recorded without its entry.

use super::auth::scope::{BatchError, Scoped, Tenant};
use super::error::{ApiError, ApiResult};
use super::repo;
use crate::domain::audit::{AuditEntry, Draft};
use crate::domain::time::Timestamp;
use std::future::Future;
use std::time::Duration;

/// Which chain an entry belongs to.
#[derive(Clone, Copy)]
pub enum Chain<'a> {
    Org,
    Project(&'a str),
}

impl Chain<'_> {
    fn key(&self, t: &Tenant) -> String {
        match self {
            Chain::Org => format!("org:{}", t.org_id()),
            Chain::Project(pid) => format!("project:{pid}"),
        }
    }

    fn project_id(&self) -> Option<&str> {
        match self {
            Chain::Org => None,
            Chain::Project(pid) => Some(pid),
        }
    }
}

pub enum CommitError {
    /// Another append took this place in the chain first; run the operation again.
    Contended,
    Failed(ApiError),
}

impl From<ApiError> for CommitError {
    fn from(e: ApiError) -> Self {
        CommitError::Failed(e)
    }
}

/// Applies `changes` and appends `drafts` (in order) to `chain`, atomically.
pub async fn commit(
    t: &Tenant,
    chain: Chain<'_>,
    drafts: Vec<Draft>,
    mut changes: Vec<Scoped>,
    now: Timestamp,
) -> Result<Vec<AuditEntry>, CommitError> {
    let key = chain.key(t);
    let head = repo::audit::head(t, &key).await?;
    let mut prev = head.map(|h| (h.seq, h.hash));
    let mut entries = Vec::with_capacity(drafts.len());
    for d in drafts {
        let e = d.seal(prev.as_ref().map(|(s, h)| (*s, h.as_str())), now);
        prev = Some((e.seq, e.hash.clone()));
        changes.push(repo::audit::insert(t, &key, chain.project_id(), &e)?);
        entries.push(e);
    }
    match t.batch(changes).await {
        Ok(_) => Ok(entries),
        Err(BatchError::D1(msg)) if msg.contains("audit_log.chain") => Err(CommitError::Contended),
        Err(e) => Err(CommitError::Failed(e.into())),
    }
}

/// The common case: one entry recording the statements `changes` builds, retried on contention
/// (`changes` runs again on each try, so statements are always freshly prepared).
pub async fn record<F>(
    t: &Tenant,
    chain: Chain<'_>,
    draft: &Draft,
    now: Timestamp,
    changes: F,
) -> ApiResult<()>
where
    F: Fn() -> ApiResult<Vec<Scoped>>,
{
    retrying(|| async { commit(t, chain, vec![draft.clone()], changes()?, now).await }).await?;
    Ok(())
}

/// Runs `op` until it commits without contention (at most 40 tries, with jittered back-off).
pub async fn retrying<T, F, Fut>(mut op: F) -> ApiResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CommitError>>,
{
    for attempt in 0u64..40 {
        match op().await {
            Ok(v) => return Ok(v),
            Err(CommitError::Failed(e)) => return Err(e),
            Err(CommitError::Contended) => {
                let mut b = [0u8; 1];
                let _ = getrandom::getrandom(&mut b);
                let ms = (attempt.min(8) * 5) + u64::from(b[0] % 20);
                worker::Delay::from(Duration::from_millis(ms)).await;
            }
        }
    }
    Err(ApiError::conflict(
        "audit_contention",
        "too many concurrent changes; retry",
    ))
}
