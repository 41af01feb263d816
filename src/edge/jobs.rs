//! Scheduled jobs (the cron handler delegates here), built on `Services` like every other
//! surface. Each job walks every org through `auth::system_tenants`, which needs the
//! `SystemGrant` only entry points hold, so even system work reaches D1 only through
//! tenant-scoped statements. No HTTP status is decided here.

use super::audit::{retrying, Chain};
use super::auth::{scope::ProjectHandle, system_project, system_tenants, SystemGrant};
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
/// At most this many re-seals per org per run (the cron runs every 5 minutes).
const REWRAPS_PER_ORG_PER_RUN: u32 = 1000;
/// At most this many credentials looked at per org per run, failures included: rows that keep
/// failing do not count against the re-seals, so they never starve the rest.
const VISITS_PER_ORG_PER_RUN: u32 = 20_000;

/// Re-seals credentials that an older master key sealed, or an older sealed format holds, under
/// the current key in the current format (SPEC §3), one audited batch per credential. Each org's credentials are walked in id order with a cursor
/// (`REWRAP_PAGE_SIZE` a page): a credential that fails is logged and passed over, so it never
/// blocks the ones after it; it is tried again on the next run.
pub async fn rewrap_credentials(svc: &Services, grant: &SystemGrant) -> ApiResult<u32> {
    let now = svc.now;
    let ring = svc.keyring()?;
    let current = ring.current_kid().to_owned();
    let page_size = svc
        .var("REWRAP_PAGE_SIZE")
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (1..=500).contains(n))
        .unwrap_or(100);
    let mut done = 0;
    let mut after = String::new();
    loop {
        let tenants = system_tenants(svc, grant, &after, ORGS_PER_PAGE).await?;
        let Some(last) = tenants.last() else {
            return Ok(done);
        };
        after = last.org_id().to_string();
        for t in &tenants {
            let (mut cursor, mut seen, mut sealed) = (String::new(), 0, 0);
            while sealed < REWRAPS_PER_ORG_PER_RUN && seen < VISITS_PER_ORG_PER_RUN {
                // One org's failing read is logged and the job goes on with the next org.
                let read = repo::credentials::stale(t, &current, SEALED_FORMAT, &cursor, page_size);
                let page = match read.await {
                    Ok(page) => page,
                    Err(e) => {
                        let org = t.org_id().to_string();
                        console_error!(
                            "{}",
                            json!({"job": "rewrap", "org": org, "error": e.detail})
                        );
                        break;
                    }
                };
                let Some(last) = page.last() else { break };
                cursor.clone_from(&last.id);
                seen += page.len() as u32;
                for stale in &page {
                    let outcome = match system_project(t, &stale.project_id, grant) {
                        Ok(pr) => rewrap_one(&pr, &ring, &current, &stale.id, now).await,
                        Err(e) => Err(e),
                    };
                    match outcome {
                        Ok(true) => {
                            done += 1;
                            sealed += 1;
                        }
                        Ok(false) => {}
                        Err(e) => console_error!(
                            "{}",
                            json!({"job": "rewrap", "credential": stale.id, "error": e.detail})
                        ),
                    }
                }
            }
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
