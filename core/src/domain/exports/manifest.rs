//! The signed manifest that closes a bundle.

use super::engine::*;
use crate::domain::canonical::to_canonical;
use crate::domain::signing::{KeyRef, SignedCheckpoint, Signer};
use crate::domain::store::{ObjectStore, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.sig";

/// The signed description of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: u32,
    pub export: String,
    pub org: String,
    pub project: String,
    /// The project's environment (`live` or `test`): a test project's bundle is never taken
    /// for a live one. Absent only in bundles written before it was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub chain: String,
    pub range: ManifestRange,
    pub count: u64,
    pub first: Option<Link>,
    pub last: Option<Link>,
    pub files: Vec<FileDone>,
    /// The newest signed checkpoint of the chain when the bundle was written.
    pub checkpoint: Option<SignedCheckpoint>,
    pub signing_key: KeyRef,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestRange {
    pub from_seq: u64,
    pub to_seq: u64,
    pub actions: Option<Vec<String>>,
    /// The hash of the entry before `from_seq` (64 zeros when it is 1): where the range attaches
    /// to the chain, also for a bundle filtered by action. Null for an empty range.
    pub from_prev_hash: Option<String>,
    /// The hash of the entry at `to_seq`. Null for an empty range.
    pub to_hash: Option<String>,
}

impl Manifest {
    /// The file's bytes (and what the signature covers): canonical JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_canonical(&serde_json::to_value(self).unwrap_or(Value::Null)).into_bytes()
    }
}

/// Writes `manifest.json` and `manifest.sig` once every file is written.
pub async fn finish(
    spec: &ExportSpec,
    progress: &Progress,
    signer: &impl Signer,
    store: &impl ObjectStore,
) -> Result<(Manifest, Vec<u8>), StoreError> {
    let (count, first, last) = progress.totals.clone().unwrap_or((0, None, None));
    let manifest = Manifest {
        version: 1,
        export: spec.id.clone(),
        org: spec.org.clone(),
        project: spec.project.clone(),
        environment: spec.environment.clone(),
        chain: spec.chain.clone(),
        range: ManifestRange {
            from_seq: spec.from_seq,
            to_seq: spec.to_seq,
            actions: spec.actions.clone(),
            from_prev_hash: progress.from_prev_hash.clone(),
            to_hash: progress.to_hash.clone(),
        },
        count,
        first,
        last,
        files: progress.done.clone(),
        checkpoint: progress.checkpoint.clone(),
        signing_key: signer.key(),
        created_at: spec.created_at.clone(),
    };
    let bytes = manifest.to_bytes();
    let sig = signer.sign(&bytes).await?;
    store
        .put(&spec.object_key(MANIFEST), bytes, "application/json")
        .await?;
    store
        .put(
            &spec.object_key(SIGNATURE),
            sig.clone(),
            "application/octet-stream",
        )
        .await?;
    Ok((manifest, sig))
}
