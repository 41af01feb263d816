//! Signed checkpoints (SPEC §9): the cron signs `{chain, size, head_hash, time}` for every chain
//! whose head moved, with the org's key, and writes it to R2 (`checkpoints/<org>/<chain>.json`,
//! the newest replacing the one before). A checkpoint is signed only after the entries since the
//! previous one were verified to extend it (hashes and links), so a checkpoint never blesses a
//! rewritten history. `GET …/audit/verify` holds the chain to its checkpoint: a deleted tail is
//! reported as `truncated`.

use super::auth::scope::Tenant;
use super::auth::SystemGrant;
use super::jobs::OrgWalk;
use super::objects::R2Objects;
use super::services::Services;
use super::{repo, signing};
use crate::domain::audit::{ChainVerifier, CheckpointSeen, Verification, GENESIS_HASH};
use crate::domain::signing::{fingerprint, Checkpoint, SignedCheckpoint};
use crate::domain::store::{ObjectStore, StoreError};
use crate::fault::{Fallible, Fault};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::json;
use worker::console_error;

const JOB: &str = "checkpoints";
const PAGE: u32 = 1000;

pub fn object_key(t: &Tenant, chain: &str) -> String {
    format!("checkpoints/{}/{chain}.json", t.org_id())
}

/// The newest checkpoint of `chain` as stored, unchecked; `Err` with why when there is an object
/// that does not parse.
async fn stored(
    svc: &Services,
    t: &Tenant,
    chain: &str,
) -> Fallible<Result<Option<SignedCheckpoint>, String>> {
    let objects = svc.objects()?;
    let Some(bytes) = objects
        .get(&object_key(t, chain))
        .await
        .map_err(|e| Fault::internal(e.to_string()))?
    else {
        return Ok(Ok(None));
    };
    Ok(serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|_| "the stored checkpoint does not parse".to_owned()))
}

/// The newest checkpoint of a chain, checked: its signature under the org's key, its chain, and
/// its size against the size D1 noted when it was signed (a checkpoint deleted or put back
/// older is not taken for the newest).
pub enum Trusted {
    /// No checkpoint was ever signed for the chain.
    None,
    Valid(SignedCheckpoint),
    /// Why the stored checkpoint cannot be trusted, and the size it is about.
    Invalid(&'static str, u64),
}

pub async fn trusted(svc: &Services, t: &Tenant, chain: &str) -> Fallible<Trusted> {
    let noted = repo::checkpoints::noted(t, chain).await?;
    let cp = match stored(svc, t, chain).await? {
        Err(_) => return Ok(Trusted::Invalid("checkpoint_signature", noted)),
        Ok(None) if noted > 0 => return Ok(Trusted::Invalid("checkpoint_missing", noted)),
        Ok(None) => return Ok(Trusted::None),
        Ok(Some(cp)) => cp,
    };
    let size = cp.checkpoint.size;
    let Some(row) = repo::signing::get(t).await? else {
        return Ok(Trusted::Invalid("checkpoint_signature", size));
    };
    let public = B64
        .decode(&row.public_key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok());
    let sig = B64.decode(&cp.signature).unwrap_or_default();
    let ok = match public {
        Some(public) if sig.len() == 64 && cp.checkpoint.chain == chain => {
            cp.key.sha256 == fingerprint(&public)
                && signing::verify(&public, &cp.checkpoint.signed_bytes(), &sig).await?
        }
        _ => false,
    };
    Ok(if !ok {
        Trusted::Invalid("checkpoint_signature", size)
    } else if size < noted {
        Trusted::Invalid("checkpoint_rollback", noted)
    } else {
        Trusted::Valid(cp)
    })
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
    let objects = svc.objects().map_err(failed)?;
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

fn failed(e: Fault) -> StoreError {
    StoreError::Failed(e.detail().unwrap_or_else(|| e.message()))
}

fn log(t: &Tenant, chain: Option<&str>, e: &Fault) {
    console_error!(
        "{}",
        json!({"job": JOB, "org": t.org_id().as_str(), "chain": chain, "error": e.detail().unwrap_or_else(|| e.message())})
    );
}

/// Verifies the entries of `chain` after its newest checkpoint and signs the new head.
async fn sign_one(
    svc: &Services,
    t: &Tenant,
    key: &signing::OrgKey,
    objects: &R2Objects,
    chain: &str,
    entries_left: &mut u32,
) -> Fallible<bool> {
    let now = svc.now.to_rfc3339();
    // Only a checkpoint that verifies is extended: a forged, replaced or deleted one stops the
    // chain's signing (logged) rather than being signed over.
    let (start, start_hash) = match trusted(svc, t, chain).await? {
        Trusted::Valid(cp) => (cp.checkpoint.size, cp.checkpoint.head_hash),
        Trusted::None => (0, GENESIS_HASH.to_owned()),
        Trusted::Invalid(why, size) => {
            return Err(Fault::internal(format!(
                "{chain}: {why} (size {size}); no checkpoint is signed over it"
            )))
        }
    };
    let mut v = ChainVerifier::after(start, &start_hash);
    let mut after = start;
    'pages: loop {
        let page = repo::audit::page(t, chain, after, PAGE).await?;
        for e in &page {
            if !v.push(e) {
                break 'pages;
            }
            after = e.seq;
        }
        *entries_left = entries_left.saturating_sub(page.len() as u32);
        if page.len() < PAGE as usize || *entries_left == 0 {
            break;
        }
    }
    let (size, head_hash) = match v.finish() {
        Verification::Ok {
            head_seq,
            head_hash,
            ..
        } => (head_seq, head_hash),
        Verification::Bad {
            first_bad_seq,
            reason,
            ..
        } => {
            return Err(Fault::internal(format!(
                "{chain} does not extend its checkpoint of size {start}: {reason} at {first_bad_seq}; not signed"
            )))
        }
    };
    if size <= start {
        // Nothing new (D1's note lagged R2): note the size R2 has.
        repo::checkpoints::signed(t, chain, start as i64, &now).await?;
        return Ok(false);
    }
    let cp = Checkpoint {
        chain: chain.to_owned(),
        size,
        head_hash,
        time: now.clone(),
    };
    let signed = SignedCheckpoint::sign(cp, key)
        .await
        .map_err(|e| Fault::internal(e.to_string()))?;
    let bytes = serde_json::to_vec(&signed).map_err(|e| Fault::internal(e.to_string()))?;
    // Another tick may have signed further meanwhile: never put a smaller checkpoint over it.
    if let Ok(Ok(Some(now_stored))) = stored(svc, t, chain).await {
        if now_stored.checkpoint.size >= size {
            return Ok(false);
        }
    }
    objects
        .put(&object_key(t, chain), bytes, "application/json")
        .await
        .map_err(|e| Fault::internal(e.to_string()))?;
    repo::checkpoints::signed(t, chain, size as i64, &now).await?;
    Ok(true)
}
