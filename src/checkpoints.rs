//! Signed checkpoints (SPEC §9) at the edge: the cron signs `{chain, size, head_hash, time,
//! environment}` for every chain whose head moved, with the org's key, and writes it to R2
//! (`checkpoints/<org>/<chain>.json`, the newest replacing the one before). The protocol is
//! `domain::checkpoints` (verified extension, the note moved first by compare-and-swap, the
//! object put on the ETag read before); this module is its store over D1 and R2.
//! `GET …/audit/verify` holds the chain to its checkpoint: a deleted tail is reported as
//! `truncated`.

use super::auth::scope::Tenant;
use super::jobs::OrgWalk;
use super::objects::R2Objects;
use super::services::Services;
use super::{repo, signing};
use crate::auth::grants::SystemGrant;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use parityrail_core::domain::audit::{AuditEntry, CheckpointSeen};
pub use parityrail_core::domain::checkpoints::Trusted;
use parityrail_core::domain::checkpoints::{self, CheckpointStore, Note, SignAs, Signed};
use parityrail_core::domain::signing::{fingerprint, SignedCheckpoint};
use parityrail_core::domain::store::StoreError;
use parityrail_core::fault::{Fallible, Fault};
use serde_json::json;
use worker::console_error;

const JOB: &str = "checkpoints";

pub fn object_key(t: &Tenant, chain: &str) -> String {
    format!("checkpoints/{}/{chain}.json", t.org_id())
}

/// One org's checkpoints (`domain::checkpoints::CheckpointStore`): the note in D1's
/// `chain_heads`, the object in R2, the chain in D1, and the org's public key.
struct Store<'a> {
    t: &'a Tenant,
    objects: &'a R2Objects,
    /// The org's public key (raw Ed25519), once read.
    public: std::cell::OnceCell<Option<[u8; 32]>>,
}

impl<'a> Store<'a> {
    fn new(t: &'a Tenant, objects: &'a R2Objects) -> Self {
        Store {
            t,
            objects,
            public: std::cell::OnceCell::new(),
        }
    }
}

fn stored(e: Fault) -> StoreError {
    StoreError::Failed(e.detail().unwrap_or_else(|| e.message()))
}

impl CheckpointStore for Store<'_> {
    async fn note(&self, chain: &str) -> Result<Note, StoreError> {
        repo::checkpoints::noted(self.t, chain)
            .await
            .map_err(stored)
    }

    async fn move_note(
        &self,
        chain: &str,
        from: u64,
        to: &Note,
        at: &str,
    ) -> Result<bool, StoreError> {
        repo::checkpoints::move_note(self.t, chain, from, to, at)
            .await
            .map_err(stored)
    }

    async fn settle(&self, chain: &str, size: u64) -> Result<(), StoreError> {
        repo::checkpoints::settle(self.t, chain, size)
            .await
            .map_err(stored)
    }

    async fn object(&self, chain: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        self.objects.get_versioned(&object_key(self.t, chain)).await
    }

    async fn put_if(
        &self,
        chain: &str,
        bytes: Vec<u8>,
        version: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.objects
            .put_if(
                &object_key(self.t, chain),
                bytes,
                "application/json",
                version,
            )
            .await
    }

    async fn entries(
        &self,
        chain: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        repo::audit::page(self.t, chain, after, limit)
            .await
            .map_err(stored)
    }

    async fn signed_by_org(&self, cp: &SignedCheckpoint) -> Result<bool, StoreError> {
        let public = match self.public.get() {
            Some(p) => *p,
            None => {
                let row = repo::signing::get(self.t).await.map_err(stored)?;
                let p = row.and_then(|r| {
                    let raw = B64.decode(&r.public_key).ok()?;
                    <[u8; 32]>::try_from(raw).ok()
                });
                *self.public.get_or_init(|| p)
            }
        };
        let Some(public) = public else {
            return Ok(false);
        };
        let Ok(sig) = B64.decode(&cp.signature) else {
            return Ok(false);
        };
        if sig.len() != 64 || cp.key.sha256 != fingerprint(&public) {
            return Ok(false);
        }
        signing::verify(&public, &cp.checkpoint.signed_bytes(), &sig)
            .await
            .map_err(stored)
    }
}

/// The newest checkpoint of a chain, checked (`domain::checkpoints::trusted`): its signature
/// under the org's key, its chain, and its size against the note D1 keeps of it.
pub async fn trusted(svc: &Services, t: &Tenant, chain: &str) -> Fallible<Trusted> {
    let objects = svc.objects()?;
    checkpoints::trusted(&Store::new(t, &objects), chain)
        .await
        .map_err(|e| Fault::internal(e.to_string()))
}

/// What `GET …/audit/verify` compares a chain with.
pub fn seen(cp: &SignedCheckpoint) -> CheckpointSeen {
    CheckpointSeen {
        size: cp.checkpoint.size,
        head_hash: cp.checkpoint.head_hash.clone(),
        time: cp.checkpoint.time.clone(),
    }
}

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
