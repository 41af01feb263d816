//! The cron's prune jobs (snapshots, done outbox rows, recorded webhook events) as one engine
//! over a walk of the orgs: bounded deletes org by org from the job's saved position, `ROWS`
//! rows a statement, within the job's share of the tick's statements (`PruneBudget`) and at
//! most an org budget a tick; one org gets at most half the share a tick. An org with rows left
//! when its half or the budget ran out is where the next tick starts, unless the tick began
//! with it: then the walk moves past it (the rest waits for the next pass), so one org with a
//! backlog cannot hold up every other. A failed delete stops the job for the tick (a
//! platform-wide failure would fail every org alike) at the org it failed in; if that org was
//! the tick's first, it failed twice and is passed over until the next pass. A pass over every
//! org starts again from the first.

/// The prune jobs sharing one `PruneBudget`.
pub const JOBS: u32 = 3;
/// Rows one delete statement removes at most.
pub const ROWS: u32 = 500;

/// The delete statements each prune job may send a tick: the tick's total (at least `JOBS`)
/// shared equally, so together they stay within it and none starves the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneBudget {
    pub per_job: u32,
}

impl PruneBudget {
    pub fn new(total: u32) -> Self {
        PruneBudget {
            per_job: total.max(JOBS) / JOBS,
        }
    }

    /// The statements one org may take a tick.
    pub fn per_org(&self) -> u32 {
        (self.per_job / 2).max(1)
    }
}

/// A job's walk over the orgs, resumed from its saved position, and its delete.
#[allow(async_fn_in_trait)]
pub trait PruneWalk: Sized {
    type Org;
    /// A failure of the walk (reading orgs, saving the position).
    type Error;
    /// A failure of one delete.
    type Failure;
    /// The next org; `None` at the end of the orgs (the next pass starts from the first).
    async fn next(&mut self) -> Result<Option<Self::Org>, Self::Error>;
    /// Marks `org` visited: a pause resumes after it.
    fn visited(&mut self, org: &Self::Org);
    /// Stops for this tick, saving where the next resumes.
    async fn pause(self) -> Result<(), Self::Error>;
    /// Deletes at most `limit` rows of `org`; how many went.
    async fn delete(&self, org: &Self::Org, limit: u32) -> Result<u64, Self::Failure>;
    fn report(&self, org: &Self::Org, e: &Self::Failure);
}

/// One tick of a prune job: how many rows it deleted.
pub async fn prune<W: PruneWalk>(
    mut walk: W,
    budget: PruneBudget,
    org_budget: u32,
) -> Result<u64, W::Error> {
    let per_org = budget.per_org();
    let (mut pruned, mut visited, mut statements) = (0, 0, budget.per_job);
    loop {
        let org = match walk.next().await {
            Ok(Some(org)) => org,
            // The end of the orgs: the walk saved that the next pass starts from the first.
            Ok(None) => return Ok(pruned),
            Err(e) => {
                // Keep what this tick did before the failure.
                let _ = walk.pause().await;
                return Err(e);
            }
        };
        if visited >= org_budget || statements == 0 {
            break;
        }
        visited += 1;
        let first = visited == 1;
        let mut done = false;
        for _ in 0..per_org.min(statements) {
            statements -= 1;
            match walk.delete(&org, ROWS).await {
                Ok(n) => {
                    pruned += n;
                    if n < u64::from(ROWS) {
                        done = true;
                        break;
                    }
                }
                Err(e) => {
                    walk.report(&org, &e);
                    if first {
                        walk.visited(&org);
                    }
                    walk.pause().await?;
                    return Ok(pruned);
                }
            }
        }
        if done || first {
            walk.visited(&org);
        } else {
            // Rows left in an org this tick did not begin with: the next tick starts with it.
            break;
        }
    }
    walk.pause().await?;
    Ok(pruned)
}

#[cfg(test)]
mod tests;
