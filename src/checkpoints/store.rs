//! A chain's checkpoints in D1 and R2 (`domain::checkpoints::CheckpointStore`), and the newest
//! one checked.

use crate::auth::scope::Tenant;
use crate::objects::R2Objects;
use crate::services::Services;
use crate::{repo, signing};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use parityrail_core::domain::audit::AuditEntry;
#[cfg(feature = "edge")]
use parityrail_core::domain::audit::CheckpointSeen;
pub use parityrail_core::domain::checkpoints::Trusted;
use parityrail_core::domain::checkpoints::{self, CheckpointStore, Note};
use parityrail_core::domain::signing::{fingerprint, SignedCheckpoint};
use parityrail_core::domain::store::StoreError;
use parityrail_core::fault::{Fallible, Fault};

pub fn object_key(t: &Tenant, chain: &str) -> String {
    format!("checkpoints/{}/{chain}.json", t.org_id())
}

/// One org's checkpoints (`domain::checkpoints::CheckpointStore`): the note in D1's
/// `chain_heads`, the object in R2, the chain in D1, and the org's public key.
pub struct Store<'a> {
    t: &'a Tenant,
    objects: &'a R2Objects,
    /// The org's public key (raw Ed25519), once read.
    public: std::cell::OnceCell<Option<[u8; 32]>>,
}

impl<'a> Store<'a> {
    pub fn new(t: &'a Tenant, objects: &'a R2Objects) -> Self {
        Store {
            t,
            objects,
            public: std::cell::OnceCell::new(),
        }
    }
}

pub fn stored(e: Fault) -> StoreError {
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
#[cfg(feature = "edge")]
pub fn seen(cp: &SignedCheckpoint) -> CheckpointSeen {
    CheckpointSeen {
        size: cp.checkpoint.size,
        head_hash: cp.checkpoint.head_hash.clone(),
        time: cp.checkpoint.time.clone(),
    }
}
