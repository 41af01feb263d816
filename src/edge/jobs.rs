//! Scheduled jobs (the cron handler delegates here). Each job walks every org through
//! `auth::system_tenants`, so even system work reaches D1 only through tenant-scoped statements.

use super::audit::{commit, retrying, Chain};
use super::auth::system_tenants;
use super::error::ApiResult;
use super::repo;
use super::vault;
use crate::domain::audit::{Actor, Draft};
use crate::domain::time::Timestamp;
use serde_json::json;
use worker::{console_error, Env};

const ORGS_PER_PAGE: u32 = 100;
const REWRAPS_PER_ORG_PER_RUN: u32 = 200;

/// Re-seals credentials that an older master key sealed under the current one (SPEC §3), one
/// audited batch per credential. A credential that fails is logged and left for the next run.
pub async fn rewrap_credentials(env: &Env, now: Timestamp) -> ApiResult<u32> {
    let ring = vault::keyring_from(env)?;
    let current = ring.current_kid().to_owned();
    let mut done = 0;
    let mut after = String::new();
    loop {
        let tenants = system_tenants(env, &after, ORGS_PER_PAGE).await?;
        let Some(last) = tenants.last() else {
            return Ok(done);
        };
        after = last.org_id().to_string();
        for t in &tenants {
            for stale in repo::credentials::not_under(t, &current, REWRAPS_PER_ORG_PER_RUN).await? {
                // Re-read after the head: a credential replaced meanwhile is simply skipped.
                let outcome = retrying(t, Chain::Project(&stale.project_id), |head| async {
                    let Some(row) = repo::credentials::get(t, &stale.id).await? else {
                        return Ok(false);
                    };
                    let Some(new) = vault::rewrap(&ring, t, &row)? else {
                        return Ok(false);
                    };
                    let draft = Draft::new(
                        Actor::System("cron"),
                        "credential.rewrapped",
                        format!("credential:{}", row.id),
                        json!({"kind": row.kind, "key_id": row.key_id}),
                        json!({"kind": row.kind, "key_id": current}),
                    );
                    let change = repo::credentials::rewrap(t, &row.id, &new, &current)?;
                    commit(
                        t,
                        Chain::Project(&row.project_id),
                        head,
                        vec![draft],
                        vec![change],
                        now,
                    )
                    .await?;
                    Ok(true)
                })
                .await;
                match outcome {
                    Ok(true) => done += 1,
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
