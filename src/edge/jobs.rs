//! Scheduled jobs (the cron handler delegates here), built on `Services` like every other
//! surface. Each job walks every org through `auth::system_tenants`, which needs the
//! `SystemGrant` only entry points hold, so even system work reaches D1 only through
//! tenant-scoped statements. No HTTP status is decided here.

use super::audit::{retrying, Chain};
use super::auth::scope::{ProjectHandle, Tenant};
use super::auth::{
    job_cursor, save_job_cursor, system_project, system_tenant, system_tenants, SystemGrant,
};
use super::repo;
use super::services::Services;
use super::vault;
use crate::api::error::ApiResult;
use crate::domain::append::Step;
use crate::domain::audit::{Actor, Draft};
use crate::domain::time::Timestamp;
use crate::domain::vault::{Keyring, SEALED_FORMAT};
use serde_json::json;
use worker::console_error;

const ORGS_PER_PAGE: u32 = 100;
const JOB: &str = "rewrap";

/// Re-seals credentials that an older master key sealed, or an older sealed format holds, under
/// the current key in the current format (SPEC §3), one audited batch per credential.
///
/// The walk goes org by org, credential by credential in id order, and looks at no more than
/// `REWRAP_VISITS_PER_RUN` credentials per run (default 2000, failures included), `REWRAP_PAGE_SIZE`
/// a page. Its position is saved after every page (`job_state`), so the next run continues where
/// this one stopped: a credential that fails is logged and passed over, never blocking the ones
/// after it, and is tried again on the next pass.
pub async fn rewrap_credentials(svc: &Services, grant: &SystemGrant) -> ApiResult<u32> {
    let ring = svc.keyring()?;
    let mut walk = Walk {
        svc,
        grant,
        ring: &ring,
        current: ring.current_kid().to_owned(),
        page_size: svc
            .var("REWRAP_PAGE_SIZE")
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|n| (1..=500).contains(n))
            .unwrap_or(100),
        budget: svc
            .var("REWRAP_VISITS_PER_RUN")
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|n| (1..=20_000).contains(n))
            .unwrap_or(2000),
        done: 0,
    };
    let saved = job_cursor(svc, grant, JOB).await?;
    let mut org_after = String::new();
    // A position that does not parse (it never should) restarts the pass.
    let resume = saved
        .split_once('|')
        .and_then(|(org, cred)| Some((system_tenant(svc, grant, org).ok()?, cred.to_owned())));
    if let Some((t, credential)) = resume {
        if !walk.org(&t, credential).await? {
            return Ok(walk.done);
        }
        org_after = t.org_id().to_string();
    }
    loop {
        let tenants = system_tenants(svc, grant, &org_after, ORGS_PER_PAGE).await?;
        let Some(last) = tenants.last() else {
            // A full pass is over: the next run starts from the first org again.
            save_job_cursor(svc, grant, JOB, "").await?;
            return Ok(walk.done);
        };
        org_after = last.org_id().to_string();
        for t in &tenants {
            if !walk.org(t, String::new()).await? {
                return Ok(walk.done);
            }
        }
    }
}

struct Walk<'a> {
    svc: &'a Services,
    grant: &'a SystemGrant,
    ring: &'a Keyring,
    current: String,
    page_size: u32,
    budget: u32,
    done: u32,
}

impl Walk<'_> {
    /// Walks one org's stale credentials after `cursor`; `false` once the run's budget is spent
    /// (the position is saved).
    async fn org(&mut self, t: &Tenant, mut cursor: String) -> ApiResult<bool> {
        let org = t.org_id().to_string();
        loop {
            if self.budget == 0 {
                return Ok(false);
            }
            let limit = self.page_size.min(self.budget);
            let read = repo::credentials::stale(t, &self.current, SEALED_FORMAT, &cursor, limit);
            let page = match read.await {
                Ok(page) => page,
                Err(e) => {
                    // One org's failing read is logged and the walk goes on with the next org.
                    console_error!("{}", json!({"job": JOB, "org": org, "error": e.detail}));
                    return Ok(true);
                }
            };
            let Some(last) = page.last() else {
                return Ok(true);
            };
            cursor.clone_from(&last.id);
            self.budget -= page.len() as u32;
            for stale in &page {
                let outcome = match system_project(t, &stale.project_id, self.grant) {
                    Ok(pr) => {
                        rewrap_one(&pr, self.ring, &self.current, &stale.id, self.svc.now).await
                    }
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(true) => self.done += 1,
                    Ok(false) => {}
                    Err(e) => console_error!(
                        "{}",
                        json!({"job": JOB, "credential": stale.id, "error": e.detail})
                    ),
                }
            }
            save_job_cursor(self.svc, self.grant, JOB, &format!("{org}|{cursor}")).await?;
        }
    }
}

/// Re-seals one credential under `current`, audited; `false` when there was nothing to do.
async fn rewrap_one(
    pr: &ProjectHandle,
    ring: &Keyring,
    current: &str,
    id: &str,
    now: Timestamp,
) -> ApiResult<bool> {
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
            "credential.rewrapped",
            format!("credential:{}", row.id),
            json!({"kind": row.kind, "key_id": row.key_id, "format": row.format}),
            json!({"kind": row.kind, "key_id": current, "format": SEALED_FORMAT}),
        );
        let change = repo::credentials::rewrap(t, &row.id, &new, current, SEALED_FORMAT)?;
        Ok(Step::commit(vec![draft], vec![change], true))
    })
    .await
}
