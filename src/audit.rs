//! The audit log over D1: `D1Audit` implements `domain::store::AuditLog` (a commit is one D1
//! batch: the change statements and the audit inserts; `(chain, seq)` is the primary key, so a
//! second append at the same place fails and nothing of it applies), and `retrying` runs an
//! operation under the protocol of `domain::append` (head first, exact `before`, no fork).

use super::auth::scope::{BatchError, ProjectHandle, Scoped, Tenant};
use super::repo;
use crate::auth::principal::{Principal, ProjectScope};
use parityrail_core::api::d1::D1Failure;
use parityrail_core::api::error::ApiResult;
use parityrail_core::domain::append::{append, seal_after, AppendError, Step};
use parityrail_core::domain::audit::{AuditEntry, Draft};
use parityrail_core::domain::store::{AuditLog, ChainHead, Guarded, Sleep, StoreError};
use parityrail_core::domain::time::Timestamp;
use parityrail_core::fault::{Fallible, Fault};
use std::future::Future;
use std::time::Duration;

/// Which chain an entry belongs to.
#[derive(Clone, Copy)]
pub enum Chain<'a> {
    Org,
    Project(&'a ProjectHandle),
}

impl Chain<'_> {
    pub fn key(&self, t: &Tenant) -> String {
        match self {
            Chain::Org => format!("org:{}", t.org_id()),
            Chain::Project(pr) => format!("project:{}", pr.id()),
        }
    }

    fn project_id(&self) -> Option<&str> {
        match self {
            Chain::Org => None,
            Chain::Project(pr) => Some(pr.as_str()),
        }
    }
}

/// One tenant's audit chains in D1.
pub struct D1Audit<'a> {
    tenant: &'a Tenant,
    project_id: Option<&'a str>,
}

impl AuditLog for D1Audit<'_> {
    type Change = Scoped;

    async fn head(&self, chain: &str) -> Result<Option<ChainHead>, StoreError> {
        let head = repo::audit::head(self.tenant, chain)
            .await
            .map_err(|e| StoreError::Failed(e.detail().unwrap_or_default()))?;
        Ok(head.map(|h| ChainHead {
            seq: h.seq,
            hash: h.hash,
            at: h.at,
        }))
    }

    async fn commit(
        &self,
        chain: &str,
        entries: &[AuditEntry],
        mut changes: Vec<Scoped>,
    ) -> Result<(), StoreError> {
        for e in entries {
            let insert = repo::audit::insert(self.tenant, chain, self.project_id, e)
                .map_err(|e| StoreError::Failed(e.detail().unwrap_or_default()))?;
            changes.push(insert);
        }
        match self.tenant.batch(changes).await {
            Ok(_) => Ok(()),
            Err(BatchError::D1(f)) if f.is_unique_on("audit_log.chain, audit_log.seq") => {
                Err(StoreError::Contended)
            }
            Err(BatchError::D1(D1Failure::CallerChanged)) => {
                Err(StoreError::Precondition(Guarded::Caller))
            }
            Err(BatchError::D1(D1Failure::RepairChanged)) => {
                Err(StoreError::Precondition(Guarded::Repair))
            }
            Err(BatchError::D1(D1Failure::Busy)) => Err(StoreError::Busy),
            Err(BatchError::D1(D1Failure::AutoApproveOff)) => {
                Err(StoreError::Precondition(Guarded::AutoApproval))
            }
            Err(BatchError::D1(D1Failure::Unique { constraint })) => {
                Err(StoreError::Duplicate(constraint))
            }
            Err(e) => Err(StoreError::Failed(format!("{e:?}"))),
        }
    }

    async fn page(
        &self,
        chain: &str,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        repo::audit::page(self.tenant, chain, after_seq, limit)
            .await
            .map_err(|e| StoreError::Failed(e.detail().unwrap_or_default()))
    }
}

struct WorkerSleep;

impl Sleep for WorkerSleep {
    async fn sleep(&self, ms: u32) {
        worker::Delay::from(Duration::from_millis(u64::from(ms))).await;
    }
}

/// A random byte (a retry's jitter).
pub fn jitter() -> u8 {
    let mut b = [0u8; 1];
    let _ = getrandom::getrandom(&mut b);
    b[0]
}

/// Insert statements appending `drafts` to a *second* chain, after its head as read now, for an
/// operation that runs under `retrying` on another chain but changes state both chains guard
/// (deleting a project). Both appends go into the one batch, so a writer on either chain
/// contends with it, and the protocol runs the operation again from fresh heads.
///
/// Read the second chain's head (`head_of`) before reading any state it guards, as the
/// protocol does for the first.
pub fn also_on(
    t: &Tenant,
    chain: Chain<'_>,
    head: Option<ChainHead>,
    drafts: Vec<Draft>,
    now: Timestamp,
) -> Fallible<Vec<Scoped>> {
    let key = chain.key(t);
    seal_after(head.as_ref(), drafts, now)
        .iter()
        .map(|e| repo::audit::insert(t, &key, chain.project_id(), e))
        .collect()
}

/// The head of `chain` now (for `also_on`).
pub async fn head_of(t: &Tenant, chain: Chain<'_>) -> Fallible<Option<ChainHead>> {
    Ok(repo::audit::head(t, &chain.key(t))
        .await?
        .map(|h| ChainHead {
            seq: h.seq,
            hash: h.hash,
            at: h.at,
        }))
}

/// Runs `op` under the append protocol on `chain`: `op` reads the state it changes and returns
/// a `Step`; on contention it runs again from a fresh head. `op`'s error is the caller's own
/// (an engine's `Fault`, a handler's `ApiError`); the protocol's own failures come as `Fault`s.
pub async fn retrying<T, E, F, Fut>(
    t: &Tenant,
    chain: Chain<'_>,
    now: Timestamp,
    mut op: F,
) -> Result<T, E>
where
    E: From<Fault>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Step<T, Scoped>, E>>,
{
    let log = D1Audit {
        tenant: t,
        project_id: chain.project_id(),
    };
    append(&log, &WorkerSleep, &chain.key(t), now, jitter, |_head| op())
        .await
        .map_err(|e| match e {
            AppendError::Op(e) => e,
            AppendError::Store(e) => Fault::from(e).into(),
            AppendError::Exhausted => Fault::AuditContention.into(),
        })
}

/// `retrying` for a change a caller makes on the org chain (or creating a project): every
/// attempt first re-checks the caller (`Principal::recheck`), after the chain head was read, and
/// its batch carries the caller check (`Principal::caller_check`), so a key revoked, a member removed or
/// demoted meanwhile, on whatever chain, cannot still land a change it authenticated for before.
pub async fn retrying_as<T, F, Fut>(
    p: &Principal,
    chain: Chain<'_>,
    now: Timestamp,
    op: F,
) -> ApiResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ApiResult<Step<T, Scoped>>>,
{
    checked(p, chain, None, now, op).await
}

/// `retrying_as` for a change inside a project the caller reached through the tenancy check:
/// the re-check and the guard also cover the project (still there) and the caller's role in it
/// (its override unchanged).
pub async fn retrying_in<T, F, Fut>(
    p: &Principal,
    scope: &ProjectScope,
    now: Timestamp,
    op: F,
) -> ApiResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ApiResult<Step<T, Scoped>>>,
{
    checked(p, Chain::Project(scope.handle()), Some(scope), now, op).await
}

/// Who changes a project's state: a caller that reached it through the tenancy check (re-checked
/// and guarded, `retrying_in`), or the system (a cron job, a Durable Object's alarm, a verified
/// webhook), which has no key to re-check and holds the project through a `SystemGrant`.
#[derive(Clone, Copy)]
pub enum By<'a> {
    Caller(&'a Principal, &'a ProjectScope),
    System {
        project: &'a ProjectHandle,
        job: &'static str,
    },
}

impl By<'_> {
    pub fn project(&self) -> &ProjectHandle {
        match self {
            By::Caller(_, scope) => scope.handle(),
            By::System { project, .. } => project,
        }
    }

    pub fn actor(&self) -> parityrail_core::domain::audit::Actor {
        match self {
            By::Caller(p, _) => p.actor(),
            By::System { job, .. } => parityrail_core::domain::audit::Actor::System(job),
        }
    }

    /// `retrying_in` for a caller, `retrying` on the project chain for the system.
    pub async fn retrying<T, E, F, Fut>(&self, now: Timestamp, op: F) -> Result<T, E>
    where
        E: From<Fault>,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Step<T, Scoped>, E>>,
    {
        match self {
            By::Caller(p, scope) => {
                checked(p, Chain::Project(scope.handle()), Some(scope), now, op).await
            }
            By::System { project, .. } => {
                retrying(project.tenant(), Chain::Project(project), now, op).await
            }
        }
    }
}

async fn checked<T, E, F, Fut>(
    p: &Principal,
    chain: Chain<'_>,
    scope: Option<&ProjectScope>,
    now: Timestamp,
    mut op: F,
) -> Result<T, E>
where
    E: From<Fault>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Step<T, Scoped>, E>>,
{
    retrying(&p.tenant, chain, now, || {
        let attempt = op();
        async move {
            p.recheck(scope, now).await.map_err(E::from)?;
            Ok(match attempt.await? {
                Step::Commit {
                    drafts,
                    mut changes,
                    value,
                } => {
                    // First in the batch: it checks the caller as it was before this change,
                    // and the key's expiry against the clock at commit, not at the request.
                    changes.insert(
                        0,
                        p.caller_check(scope, crate::clock::clock())
                            .map_err(E::from)?,
                    );
                    Step::Commit {
                        drafts,
                        changes,
                        value,
                    }
                }
                done => done,
            })
        }
    })
    .await
}

/// The common case for a caller: one entry, built from no state of its own (creations),
/// recording the statements `changes` builds (again on each try, so statements are always
/// fresh); re-checked like `retrying_as`.
pub async fn record_as<F>(
    p: &Principal,
    chain: Chain<'_>,
    draft: &Draft,
    now: Timestamp,
    changes: F,
) -> ApiResult<()>
where
    F: Fn() -> ApiResult<Vec<Scoped>>,
{
    retrying_as(p, chain, now, || async {
        Ok(Step::commit(vec![draft.clone()], changes()?, ()))
    })
    .await
}

/// Commits the draft and statements `make` prepares on `chain` (prepared again on contention).
/// One instantiation of the append protocol for every caller: `make` is `dyn` (sessions,
/// alerts).
pub async fn commit_made(
    t: &Tenant,
    chain: Chain<'_>,
    now: Timestamp,
    make: &dyn Fn() -> ApiResult<(Draft, Vec<Scoped>)>,
) -> ApiResult<()> {
    retrying(t, chain, now, || async {
        let (draft, stmts) = make()?;
        Ok::<_, parityrail_core::api::error::ApiError>(Step::commit(vec![draft], stmts, ()))
    })
    .await
}
