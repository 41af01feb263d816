//! Writing audit entries together with the change they record. `retrying` reads the chain head
//! *first*, then runs the operation, which reads the state it changes and calls `commit`;
//! `commit` seals the drafts after that head and runs the change statements and the audit
//! inserts as one D1 batch. Every change to a chain's state appends to that chain, so if anything
//! changed the state after our head read, it took `head + 1` first: our batch (change included)
//! fails on the `(chain, seq)` primary key, rolls back whole, and the operation runs again from
//! its reads. A chain never forks, no change is recorded without its entry, and an entry's
//! `before` is always the state its change replaced.

use super::auth::scope::{BatchError, Scoped, Tenant};
use super::repo;
use crate::api::d1::D1Failure;
use crate::api::error::{ApiError, ApiResult};
use crate::domain::audit::{entry_time, AuditEntry, Draft};
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

/// How an audited change failed.
pub enum CommitError {
    /// Another append took this place in the chain first; run the operation again.
    Contended,
    Failed(ApiError),
    /// A unique constraint other than the chain's (e.g. a duplicate e-mail): nothing applied.
    Duplicate(String),
}

impl From<ApiError> for CommitError {
    fn from(e: ApiError) -> Self {
        CommitError::Failed(e)
    }
}

/// The chain head an operation started from (read before any of its state): seq, hash, time.
pub struct Head(Option<repo::audit::Head>);

/// Applies `changes` and appends `drafts` (in order) to `chain` after `head`, atomically.
pub async fn commit(
    t: &Tenant,
    chain: Chain<'_>,
    head: Head,
    drafts: Vec<Draft>,
    mut changes: Vec<Scoped>,
    now: Timestamp,
) -> Result<Vec<AuditEntry>, CommitError> {
    let key = chain.key(t);
    // Never back in time: a retried append may follow an entry a later request wrote.
    let now = entry_time(now, head.0.as_ref().map(|h| h.at.as_str()));
    let mut prev = head.0.map(|h| (h.seq, h.hash));
    let mut entries = Vec::with_capacity(drafts.len());
    for d in drafts {
        let e = d.seal(prev.as_ref().map(|(s, h)| (*s, h.as_str())), now);
        prev = Some((e.seq, e.hash.clone()));
        changes.push(repo::audit::insert(t, &key, chain.project_id(), &e)?);
        entries.push(e);
    }
    match t.batch(changes).await {
        Ok(_) => Ok(entries),
        Err(BatchError::D1(f)) if f.is_unique_on("audit_log.chain, audit_log.seq") => {
            Err(CommitError::Contended)
        }
        Err(BatchError::D1(D1Failure::Unique { constraint })) => {
            Err(CommitError::Duplicate(constraint))
        }
        Err(e) => Err(CommitError::Failed(e.into())),
    }
}

/// The common case: one entry, built from no state of its own (creations), recording the
/// statements `changes` builds (again on each try, so statements are always fresh).
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
    retrying(t, chain, |head| async {
        commit(t, chain, head, vec![draft.clone()], changes()?, now).await
    })
    .await?;
    Ok(())
}

/// What a unique violation (other than the chain's own) means to the caller.
fn duplicate(constraint: &str) -> ApiError {
    match constraint {
        "members.org_id, members.email" => {
            ApiError::conflict("member_exists", "a member with this e-mail already exists")
        }
        other => ApiError::internal(format!("unique constraint failed: {other}")),
    }
}

/// Reads `chain`'s head, then runs `op` with it; again from the head read while another append
/// got there first (at most 40 tries, with jittered back-off). `op` reads the state it changes
/// itself, after it is called.
pub async fn retrying<T, F, Fut>(t: &Tenant, chain: Chain<'_>, mut op: F) -> ApiResult<T>
where
    F: FnMut(Head) -> Fut,
    Fut: Future<Output = Result<T, CommitError>>,
{
    let key = chain.key(t);
    for attempt in 0u64..40 {
        let head = repo::audit::head(t, &key).await?;
        match op(Head(head)).await {
            Ok(v) => return Ok(v),
            Err(CommitError::Failed(e)) => return Err(e),
            Err(CommitError::Duplicate(constraint)) => return Err(duplicate(&constraint)),
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
