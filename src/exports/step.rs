//! An export's steps, in the coordinator's worker: a range of the chain written to R2 in equal
//! parts, every entry checked on the way, then the manifest signed and the export ended.

use super::end::{end, spec_of, Written};
use crate::auth::scope::ProjectHandle;
use crate::checkpoints::{self, Trusted};
use crate::repo;
use crate::repo::exports::ExportStatus;
use crate::services::Services;
use crate::signing;
use parityrail_core::domain::audit::AuditEntry;
use parityrail_core::domain::exports::{
    self, EntrySource, FileDone, Progress, Step, MANIFEST, PART_BYTES, SIGNATURE,
};
use parityrail_core::domain::store::StoreError;
use parityrail_core::fault::{Fallible, Fault};

/// Parts one alarm writes before it hands over to the next (`EXPORT_PARTS_PER_STEP`).
const PARTS_PER_STEP: u32 = 4;

/// The chain of one project, read by the engine.
struct D1Entries<'a> {
    pr: &'a ProjectHandle,
    chain: String,
}

impl EntrySource for D1Entries<'_> {
    async fn page(&self, after_seq: u64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        repo::audit::page(self.pr.tenant(), &self.chain, after_seq, limit)
            .await
            .map_err(|e| StoreError::Failed(e.detail().unwrap_or(e.message())))
    }
}

/// Whether a step left more to do.
pub enum Next {
    More,
    Done,
}

/// One step of export `id` from `progress` (saved by the caller after every step, also a
/// failed one: parts uploaded stay counted).
pub async fn step(
    svc: &Services,
    pr: &ProjectHandle,
    id: &str,
    progress: &mut Progress,
) -> Fallible<Next> {
    let Some(export) = repo::exports::get(pr, id).await? else {
        return Ok(Next::Done);
    };
    if export.status != ExportStatus::Running {
        return Ok(Next::Done);
    }
    let environment = repo::projects::environment_of(pr.tenant(), pr.as_str()).await?;
    let mut spec = spec_of(pr, &export, environment);
    // Entries are held to the chain's signed checkpoint as they are read; a checkpoint that does
    // not verify stops the export. The engine pins it at the first step, so it is read once.
    if !progress.pinned {
        spec.checkpoint = match checkpoints::trusted(svc, pr.tenant(), &spec.chain).await? {
            Trusted::Valid(cp, _) => Some(cp),
            Trusted::None => None,
            Trusted::Invalid(why, _) => {
                return Err(Fault::ChainNotIntact(format!(
                    "the chain's checkpoint cannot be trusted ({why}); nothing was signed"
                )));
            }
        };
    }
    let objects = svc.objects()?;
    // R2 refuses parts under 5 MiB (all but the last); larger ones are rounded to 64 bytes.
    let part =
        (svc.var_u32("EXPORT_PART_BYTES", PART_BYTES as u32) as usize).max(PART_BYTES) / 64 * 64;
    let budget = svc
        .var_u32("EXPORT_PARTS_PER_STEP", PARTS_PER_STEP)
        .clamp(1, 64);
    let source = D1Entries {
        pr,
        chain: spec.chain.clone(),
    };
    let stored = |e: StoreError| match e {
        StoreError::NotIntact(why) => Fault::ChainNotIntact(why),
        e => Fault::internal(e.to_string()),
    };
    match exports::step(&spec, progress, &source, &objects, part, budget)
        .await
        .map_err(stored)?
    {
        Step::More => Ok(Next::More),
        Step::Written => {
            let key = signing::org_key(svc, pr.tenant()).await?;
            let (manifest, sig) = exports::finish(&spec, progress, &key, &objects)
                .await
                .map_err(stored)?;
            let sha256 = |b: &[u8]| {
                parityrail_core::domain::apikey::hex(&<sha2::Sha256 as sha2::Digest>::digest(b))
            };
            let bytes = manifest.to_bytes();
            let mut files = manifest.files.clone();
            files.push(FileDone {
                name: MANIFEST.to_owned(),
                bytes: bytes.len() as u64,
                sha256: sha256(&bytes),
            });
            files.push(FileDone {
                name: SIGNATURE.to_owned(),
                bytes: sig.len() as u64,
                sha256: sha256(&sig),
            });
            let done = Written {
                count: manifest.count,
                first: manifest.first,
                last: manifest.last,
                files,
            };
            end(svc, pr, id, Ok(done)).await?;
            Ok(Next::Done)
        }
    }
}
