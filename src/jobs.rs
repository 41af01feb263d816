//! Scheduled jobs (the cron handler delegates here), built on `Services` like every other
//! surface. Each job walks every org through `auth::system::system_tenants`, which needs the
//! `SystemGrant` only entry points hold, so even system work reaches D1 only through
//! tenant-scoped statements. Jobs answer `StoreError`s or `Fault`s, never an HTTP status; the
//! re-wrap walk (`domain::rewrap`) and the prune budgets (`domain::prune`) are pure engines
//! over ports implemented here.

use super::audit::{retrying, By, Chain};
use super::auth::grants::SystemGrant;
use super::auth::scope::{ProjectHandle, Tenant};
use super::auth::system::{
    job_cursor, save_job_cursor, system_project, system_tenant, system_tenants,
};
use super::coordinator::client;
use super::repo;
use super::runs;
use super::services::Services;
use super::vault;
use super::webhooks;
use parityrail_core::domain::append::Step;
use parityrail_core::domain::audit::{Action, Actor, Draft};
use parityrail_core::domain::prune::{self, PruneWalk};
use parityrail_core::domain::records::RunTrigger;
use parityrail_core::domain::rewrap::{rewrap_run, RewrapLimits, RewrapPorts};
use parityrail_core::domain::store::StoreError;
use parityrail_core::domain::time::Timestamp;
use parityrail_core::domain::vault::{Keyring, SEALED_FORMAT};
use parityrail_core::fault::{Fallible, Fault};
use serde_json::json;
use worker::console_error;

const JOB: &str = "rewrap";
const RUNS_JOB: &str = "runs";

/// Re-seals credentials that an older master key sealed, or an older sealed format holds, under
/// the current key in the current format (SPEC §3), one audited batch per credential. The walk
/// (budget, saved position, failures passed over) is `domain::rewrap`; this is its D1 and vault
/// side. `REWRAP_PAGE_SIZE` (default 100) and `REWRAP_VISITS_PER_RUN` (default 200: each visit
/// costs about four D1 queries, and one invocation may make about 1,000) bound it.
pub async fn rewrap_credentials(svc: &Services, grant: &SystemGrant) -> Result<u32, StoreError> {
    let ring = svc.keyring().map_err(failed)?;
    let var = |name: &str, max: u32, default: u32| {
        svc.var(name)
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|n| (1..=max).contains(n))
            .unwrap_or(default)
    };
    let limits = RewrapLimits {
        page_size: var("REWRAP_PAGE_SIZE", 500, 100),
        budget: var("REWRAP_VISITS_PER_RUN", 20_000, 200),
        orgs_per_page: 100,
    };
    let ports = D1Rewrap {
        svc,
        grant,
        current: ring.current_kid().to_owned(),
        ring,
    };
    rewrap_run(&ports, limits).await
}

fn failed(e: Fault) -> StoreError {
    StoreError::Failed(e.detail().unwrap_or_else(|| e.message()))
}

/// A `[1, max]` number from the variable `name`, else `default`.
fn bounded(svc: &Services, name: &str, max: u32, default: u32) -> u32 {
    svc.var(name)
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (1..=max).contains(n))
        .unwrap_or(default)
}

/// A walk over every org that a job spreads over several ticks: it resumes after the org the
/// last tick stopped at (`pause`), and at the end of the orgs starts again from the first.
pub(super) struct OrgWalk<'a> {
    svc: &'a Services,
    grant: &'a SystemGrant,
    /// The job whose position is saved; `None` for a walk done whole within one tick.
    job: Option<&'static str>,
    /// Where the next page of orgs starts.
    after: String,
    /// The last org visited (where a paused walk resumes).
    visited_after: String,
    ahead: std::collections::VecDeque<Tenant>,
}

impl<'a> OrgWalk<'a> {
    pub(super) async fn resume(
        svc: &'a Services,
        grant: &'a SystemGrant,
        job: &'static str,
    ) -> Result<OrgWalk<'a>, StoreError> {
        let after = job_cursor(svc, grant, job).await.map_err(failed)?;
        Ok(OrgWalk {
            svc,
            grant,
            job: Some(job),
            visited_after: after.clone(),
            after,
            ahead: Default::default(),
        })
    }

    /// A walk over every org from the first, saving no position.
    fn whole(svc: &'a Services, grant: &'a SystemGrant) -> OrgWalk<'a> {
        OrgWalk {
            svc,
            grant,
            job: None,
            after: String::new(),
            visited_after: String::new(),
            ahead: Default::default(),
        }
    }

    /// The next org; `None` at the end (the next tick starts from the first).
    pub(super) async fn next(&mut self) -> Result<Option<Tenant>, StoreError> {
        if self.ahead.is_empty() {
            let page = system_tenants(self.svc, self.grant, &self.after, 100)
                .await
                .map_err(failed)?;
            if page.is_empty() {
                if let Some(job) = self.job {
                    save_job_cursor(self.svc, self.grant, job, "")
                        .await
                        .map_err(failed)?;
                }
                return Ok(None);
            }
            if let Some(last) = page.last() {
                self.after = last.org_id().to_string();
            }
            self.ahead.extend(page);
        }
        Ok(self.ahead.pop_front())
    }

    /// Marks `t` visited: a pause resumes after it.
    pub(super) fn visited(&mut self, t: &Tenant) {
        self.visited_after = t.org_id().to_string();
    }

    /// Stops here for this tick; the next resumes after the last org visited.
    pub(super) async fn pause(self) -> Result<(), StoreError> {
        match self.job {
            Some(job) => save_job_cursor(self.svc, self.grant, job, &self.visited_after)
                .await
                .map_err(failed),
            None => Ok(()),
        }
    }
}

struct D1Rewrap<'a> {
    svc: &'a Services,
    grant: &'a SystemGrant,
    ring: Keyring,
    current: String,
}

impl RewrapPorts for D1Rewrap<'_> {
    async fn orgs_after(&self, after: &str, limit: u32) -> Result<Vec<String>, StoreError> {
        let tenants = system_tenants(self.svc, self.grant, after, limit)
            .await
            .map_err(failed)?;
        Ok(tenants.iter().map(|t| t.org_id().to_string()).collect())
    }

    async fn stale(
        &self,
        org: &str,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let t = system_tenant(self.svc, self.grant, org).map_err(failed)?;
        let rows = repo::credentials::stale(&t, &self.current, SEALED_FORMAT, after_id, limit)
            .await
            .map_err(failed)?;
        // The org's signing key is re-sealed by the same walk (its id sorts among them).
        let mut ids: Vec<String> = rows.into_iter().map(|r| r.id).collect();
        ids.extend(
            super::signing::stale(&t, &self.ring, after_id)
                .await
                .map_err(failed)?,
        );
        ids.sort();
        ids.truncate(limit as usize);
        Ok(ids)
    }

    async fn rewrap(&self, org: &str, credential: &str) -> Result<bool, StoreError> {
        let t = system_tenant(self.svc, self.grant, org).map_err(failed)?;
        if credential.starts_with(parityrail_core::domain::ids::SigningKeyId::PREFIX) {
            return super::signing::rewrap(&t, &self.ring, self.svc)
                .await
                .map_err(failed);
        }
        let Some(row) = repo::credentials::get(&t, credential)
            .await
            .map_err(failed)?
        else {
            return Ok(false);
        };
        let pr = system_project(&t, &row.project_id, self.grant).map_err(failed)?;
        rewrap_one(&pr, &self.ring, &self.current, credential, self.svc.now)
            .await
            .map_err(failed)
    }

    async fn position(&self) -> Result<String, StoreError> {
        job_cursor(self.svc, self.grant, JOB).await.map_err(failed)
    }

    async fn save_position(&self, position: &str) -> Result<(), StoreError> {
        save_job_cursor(self.svc, self.grant, JOB, position)
            .await
            .map_err(failed)
    }

    fn failed(&self, org: &str, credential: Option<&str>, error: &StoreError) {
        console_error!(
            "{}",
            json!({"job": JOB, "org": org, "credential": credential, "error": error.to_string()})
        );
    }
}

/// Re-seals one credential under `current`, audited; `false` when there was nothing to do.
async fn rewrap_one(
    pr: &ProjectHandle,
    ring: &Keyring,
    current: &str,
    id: &str,
    now: Timestamp,
) -> Fallible<bool> {
    let t = pr.tenant();
    // Re-read after the head: a credential replaced meanwhile is simply skipped.
    retrying(t, Chain::Project(pr), now, || async {
        let Some(row) = repo::credentials::get(t, id).await? else {
            return Ok(Step::Done(false));
        };
        let Some(new) = vault::rewrap(ring, t, &row)? else {
            return Ok(Step::Done(false));
        };
        let draft = Draft::new(
            Actor::System("cron"),
            Action::CredentialRewrapped,
            format!("credential:{}", row.id),
            json!({"kind": row.kind, "key_id": row.key_id, "format": row.format}),
            json!({"kind": row.kind, "key_id": current, "format": SEALED_FORMAT}),
        );
        let change = repo::credentials::rewrap(t, &row.id, &new, current, SEALED_FORMAT)?;
        Ok(Step::commit(vec![draft], vec![change], true))
    })
    .await
}

/// How long a snapshot is kept (SPEC §6).
const SNAPSHOT_DAYS: i64 = 90;

/// Deletes snapshots older than 90 days, in bounded deletes per org (`prune_each_org`). How many
/// were deleted.
pub async fn prune_snapshots(
    svc: &Services,
    grant: &SystemGrant,
    budget: &PruneBudget,
) -> Result<u64, StoreError> {
    prune_each_org(svc, grant, budget, "snapshots_prune", SNAPSHOT_DAYS, |t, before, limit| async move {
        repo::incidents::prune_snapshots(&t, &before, limit).await
    })
    .await
}

/// How long an outbox row stays once its check succeeded (its event stays longer:
/// `WEBHOOK_EVENTS_DAYS`).
const OUTBOX_DONE_DAYS: i64 = 30;

/// Deletes outbox rows done more than `OUTBOX_DONE_DAYS` ago, in bounded deletes per org.
pub async fn prune_outbox(
    svc: &Services,
    grant: &SystemGrant,
    budget: &PruneBudget,
) -> Result<u64, StoreError> {
    prune_each_org(
        svc,
        grant,
        budget,
        "outbox_prune",
        OUTBOX_DONE_DAYS,
        |t, before, limit| async move { repo::webhooks::prune_done(&t, &before, limit).await },
    )
    .await
}

/// How long a recorded webhook event is kept after ParityRail received it: well past Stripe's
/// redelivery (3 days) and its Events API (30 days), the two ways an event id can come back, so
/// a duplicate is still recognised for as long as one can arrive.
const WEBHOOK_EVENTS_DAYS: i64 = 90;

/// Deletes recorded webhook events older than `WEBHOOK_EVENTS_DAYS` whose outbox row (if any)
/// is no longer pending, in bounded deletes per org.
pub async fn prune_webhook_events(
    svc: &Services,
    grant: &SystemGrant,
    budget: &PruneBudget,
) -> Result<u64, StoreError> {
    prune_each_org(
        svc,
        grant,
        budget,
        "webhook_events_prune",
        WEBHOOK_EVENTS_DAYS,
        |t, before, limit| async move { repo::webhooks::prune_events(&t, &before, limit).await },
    )
    .await
}

/// How many delete statements each prune job may send a tick: `CRON_PRUNE_STATEMENTS_PER_TICK`
/// (default 300, at least 3, at most 600, so the cron's other jobs keep room under the platform's
/// queries per invocation) shared equally by the three (`domain::prune::PruneBudget`).
pub struct PruneBudget(prune::PruneBudget);

impl PruneBudget {
    pub fn new(svc: &Services) -> Self {
        let total = bounded(svc, "CRON_PRUNE_STATEMENTS_PER_TICK", 600, 300);
        PruneBudget(prune::PruneBudget::new(total))
    }
}

/// Runs a bounded delete (`delete(tenant, before, limit)` of what is older than `days` ago,
/// `before` in RFC 3339, returning how many rows went) org by org from the job's saved
/// position (`domain::prune::prune`: the job's share of the `PruneBudget`, at most
/// `CRON_PRUNE_ORGS_PER_TICK` orgs, default 100, a tick).
async fn prune_each_org<F, Fut>(
    svc: &Services,
    grant: &SystemGrant,
    budget: &PruneBudget,
    job: &'static str,
    days: i64,
    delete: F,
) -> Result<u64, StoreError>
where
    F: Fn(Tenant, String, u32) -> Fut,
    Fut: std::future::Future<Output = Fallible<u64>>,
{
    let walk = D1Prune {
        walk: OrgWalk::resume(svc, grant, job).await?,
        job,
        before: svc.now.plus_seconds(-days * 86_400).to_rfc3339(),
        delete,
    };
    let org_budget = bounded(svc, "CRON_PRUNE_ORGS_PER_TICK", 1000, 100);
    prune::prune(walk, budget.0, org_budget).await
}

/// A prune job's walk over the orgs and its delete in D1.
struct D1Prune<'a, F> {
    walk: OrgWalk<'a>,
    job: &'static str,
    before: String,
    delete: F,
}

impl<F, Fut> PruneWalk for D1Prune<'_, F>
where
    F: Fn(Tenant, String, u32) -> Fut,
    Fut: std::future::Future<Output = Fallible<u64>>,
{
    type Org = Tenant;
    type Error = StoreError;
    type Failure = Fault;

    async fn next(&mut self) -> Result<Option<Tenant>, StoreError> {
        self.walk.next().await
    }

    fn visited(&mut self, t: &Tenant) {
        self.walk.visited(t);
    }

    async fn pause(self) -> Result<(), StoreError> {
        self.walk.pause().await
    }

    async fn delete(&self, t: &Tenant, limit: u32) -> Fallible<u64> {
        (self.delete)(t.clone(), self.before.clone(), limit).await
    }

    fn report(&self, t: &Tenant, e: &Fault) {
        console_error!(
            "{}",
            json!({"job": self.job, "org": t.org_id().to_string(), "error": e.detail()})
        );
    }
}

/// Starts a run for every project whose schedule (`reconcile_every_minutes` since its last
/// start) is due, handing each to its coordinator: the cron does no project's reconcile work
/// itself. One D1 query per org finds its due projects; at most `CRON_RUNS_PER_TICK` (default
/// 50) runs start and `CRON_ORGS_PER_TICK` (default 200) orgs are visited a tick, and the next
/// tick goes on from the saved position, so the walk fits one invocation however many orgs
/// there are. A project that cannot run (no integration) is passed over.
pub async fn start_due_runs(svc: &Services, grant: &SystemGrant) -> Result<u32, StoreError> {
    let budget = bounded(svc, "CRON_RUNS_PER_TICK", 1000, 50);
    let org_budget = bounded(svc, "CRON_ORGS_PER_TICK", 1000, 200);
    let now = svc.now.to_rfc3339();
    let mut walk = OrgWalk::resume(svc, grant, RUNS_JOB).await?;
    let (mut started, mut visited) = (0, 0);
    while let Some(t) = walk.next().await? {
        if started >= budget || visited >= org_budget {
            walk.pause().await?;
            return Ok(started);
        }
        visited += 1;
        let due = match repo::projects::due_for_run(&t, &now, budget - started).await {
            Ok(due) => due,
            Err(e) => {
                console_error!(
                    "{}",
                    json!({"job": RUNS_JOB, "org": t.org_id().to_string(), "error": e.detail()})
                );
                walk.visited(&t);
                continue;
            }
        };
        for p in &due {
            let pr = system_project(&t, &p.id, grant).map_err(failed)?;
            let by = By::System {
                project: &pr,
                job: "cron",
            };
            match runs::start(svc, by, RunTrigger::Cron).await {
                Ok(_) => started += 1,
                Err(e) if runs::not_now(&e) => {}
                Err(e) => console_error!(
                    "{}",
                    json!({"job": RUNS_JOB, "project": p.id, "error": e.code(), "detail": e.detail()})
                ),
            }
        }
        walk.visited(&t);
    }
    Ok(started)
}

/// Wakes the coordinator of every project whose outbox has rows due (checks that failed and
/// wait for their retry, or a wake that was lost): the cron does no check itself.
pub async fn wake_due_outboxes(svc: &Services, grant: &SystemGrant) -> Result<u32, StoreError> {
    let mut woken = 0;
    let mut walk = OrgWalk::whole(svc, grant);
    while let Some(t) = walk.next().await? {
        let mut due = repo::webhooks::projects_with_due(&t, svc.now)
            .await
            .map_err(failed)?;
        if crate::alerts::on(svc) {
            // Alerts never stop the webhook checks: an error here is logged, the outbox woken.
            match repo::alerts::projects_with_work(&t, svc.now).await {
                Ok(more) => due.extend(more),
                Err(e) => console_error!(
                    "{}",
                    json!({"job": "alerts", "error": e.code(), "detail": e.detail()})
                ),
            }
        }
        // Projects with an enabled webhook endpoint: their drains walk new events.
        match repo::hooks::projects_with_work(&t, svc.now).await {
            Ok(more) => due.extend(more),
            Err(e) => console_error!(
                "{}",
                json!({"job": "hooks", "error": e.code(), "detail": e.detail()})
            ),
        }
        due.sort();
        due.dedup();
        for pid in due {
            let pr = system_project(&t, &pid, grant).map_err(failed)?;
            match client::wake_outbox(svc, &pr).await {
                Ok(()) => woken += 1,
                Err(e) => console_error!(
                    "{}",
                    json!({"job": "outbox", "project": pid, "error": e.code(), "detail": e.detail()})
                ),
            }
        }
    }
    Ok(woken)
}

/// Recovers dropped webhook deliveries for every project with a mapping and a Stripe key
/// (`webhooks::recover`), at most `CRON_EVENT_PROJECTS_PER_TICK` (default 50) projects a tick,
/// going on from a saved position: the org walk's, and within an org the last project done
/// (so one org with many projects is spread over ticks, never done past the budget).
pub async fn recover_events(svc: &Services, grant: &SystemGrant) -> Result<u32, StoreError> {
    let budget = bounded(svc, "CRON_EVENT_PROJECTS_PER_TICK", 1000, 50);
    let mut walk = OrgWalk::resume(svc, grant, "events").await?;
    let (mut visited, mut recovered) = (0u32, 0);
    while let Some(t) = walk.next().await? {
        let inner = format!("events-in:{}", t.org_id());
        let mut after = job_cursor(svc, grant, &inner).await.map_err(failed)?;
        loop {
            let room = budget.saturating_sub(visited);
            if room == 0 {
                save_job_cursor(svc, grant, &inner, &after)
                    .await
                    .map_err(failed)?;
                walk.pause().await?;
                return Ok(recovered);
            }
            let projects = repo::projects::with_stripe_and_mapping(&t, &after, room)
                .await
                .map_err(failed)?;
            if projects.is_empty() {
                break;
            }
            for pid in projects {
                visited += 1;
                let pr = system_project(&t, &pid, grant).map_err(failed)?;
                match webhooks::recover(svc, &pr, grant).await {
                    Ok(r) => recovered += r.events,
                    Err(e) => console_error!(
                        "{}",
                        json!({"job": "events", "project": pid, "error": e.code(), "detail": e.detail()})
                    ),
                }
                after = pid;
            }
        }
        if !after.is_empty() {
            save_job_cursor(svc, grant, &inner, "")
                .await
                .map_err(failed)?;
        }
        walk.visited(&t);
    }
    Ok(recovered)
}
