//! The cron's checkpoint signing, at the edge: every chain whose head moved, org by org, within a
//! tick's budget.

use super::store::{stored, Store};
use crate::auth::grants::SystemGrant;
use crate::auth::scope::Tenant;
use crate::jobs::OrgWalk;
use crate::objects::R2Objects;
use crate::services::Services;
use crate::{repo, signing};
use parityrail_core::domain::checkpoints::{self, SignAs, Signed};
use parityrail_core::domain::store::StoreError;
use parityrail_core::fault::{Fallible, Fault};
use serde_json::json;
use worker::console_error;

const JOB: &str = "checkpoints";

/// Signs a checkpoint of every chain whose head moved since its last one, org by org, at most
/// `CHECKPOINT_CHAINS_PER_RUN` (default 50) chains and `CHECKPOINT_VERIFY_ENTRIES` (default
/// 20,000) entries read per tick (the next tick goes on after the last org visited); a longer
/// extension is signed in steps. A chain whose
/// new entries do not extend its checkpoint is logged and not signed. How many were signed.
pub async fn sign_due(svc: &Services, grant: &SystemGrant) -> Result<u32, StoreError> {
    let budget = svc.var_u32("CHECKPOINT_CHAINS_PER_RUN", 50).clamp(1, 1000);
    let mut entries_left = svc.var_u32("CHECKPOINT_VERIFY_ENTRIES", 20_000).max(1);
    let objects = svc.objects().map_err(stored)?;
    let mut walk = OrgWalk::resume(svc, grant, JOB).await?;
    let (mut signed, mut attempted) = (0, 0);
    while let Some(t) = walk.next().await? {
        let heads = match repo::checkpoints::unsigned(&t, budget - attempted).await {
            Ok(h) => h,
            Err(e) => {
                log(&t, None, &e);
                walk.visited(&t);
                continue;
            }
        };
        if !heads.is_empty() {
            match signing::org_key(svc, &t).await {
                Ok(key) => {
                    for h in heads {
                        if entries_left == 0 {
                            break;
                        }
                        // Every chain tried counts against the budget, signed or not.
                        attempted += 1;
                        match sign_one(svc, &t, &key, &objects, &h.chain, &mut entries_left).await {
                            Ok(true) => signed += 1,
                            Ok(false) => {}
                            Err(e) => log(&t, Some(&h.chain), &e),
                        }
                    }
                }
                Err(e) => log(&t, None, &e),
            }
        }
        walk.visited(&t);
        if attempted >= budget || entries_left == 0 {
            walk.pause().await?;
            return Ok(signed);
        }
    }
    Ok(signed)
}

fn log(t: &Tenant, chain: Option<&str>, e: &Fault) {
    console_error!(
        "{}",
        json!({"job": JOB, "org": t.org_id().as_str(), "chain": chain, "error": e.detail().unwrap_or_else(|| e.message())})
    );
}

/// Signs the new head of `chain` (`domain::checkpoints::sign`), naming its project's
/// environment. `Ok(true)` when a checkpoint was put.
async fn sign_one(
    svc: &Services,
    t: &Tenant,
    key: &signing::OrgKey,
    objects: &R2Objects,
    chain: &str,
    entries_left: &mut u32,
) -> Fallible<bool> {
    let now = svc.now.to_rfc3339();
    let environment = match chain.strip_prefix("project:") {
        Some(project) => repo::projects::environment_of(t, project).await?,
        None => None,
    };
    let how = SignAs {
        chain,
        environment: environment.as_deref(),
        now: &now,
    };
    let store = Store::new(t, objects);
    match checkpoints::sign(&store, key, &how, entries_left).await {
        Ok(Signed::Put(_)) => Ok(true),
        Ok(Signed::Finished(size)) => {
            console_error!(
                "{}",
                json!({"job": JOB, "org": t.org_id().as_str(), "chain": chain, "finished": size,
                       "detail": "a checkpoint whose put had not finished was put now"})
            );
            Ok(true)
        }
        Ok(Signed::Nothing | Signed::Overtaken) => Ok(false),
        Err(e) => Err(Fault::internal(format!("{chain}: {e}"))),
    }
}
