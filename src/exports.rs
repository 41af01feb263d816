//! Export bundles at the edge (SPEC §10): `start` fixes the range (sequence numbers of the
//! project chain, times resolved to them), records the export with `export.created` and hands it
//! to the project's `ProjectCoordinator`; the coordinator's alarm calls `step` until the engine
//! (`domain::exports`) has written every file in R2 in parts, then the manifest is signed with
//! the org's key (`crate::signing`) and the export ends `succeeded` with `export.completed`.
//! Downloads stream from R2 and are audited (`export.downloaded`) before a byte leaves.

use super::audit::By;
use super::auth::scope::ProjectHandle;
use super::checkpoints::{self, Trusted};
use super::coordinator::client;
use super::repo::exports::{Export, ExportStatus, Side};
use super::services::Services;
use super::{repo, signing};
use parityrail_core::domain::append::Step as AppendStep;
use parityrail_core::domain::audit::{Action, Actor, AuditEntry, Draft};
use parityrail_core::domain::exports::{
    self, Bound, EntrySource, ExportRequest, ExportSpec, FileDone, FileKind, Progress, Step,
    MANIFEST, PART_BYTES, SIGNATURE,
};
use parityrail_core::domain::ids::ExportId;
use parityrail_core::domain::store::StoreError;
use parityrail_core::fault::{Fallible, Fault};
pub use parityrail_core::rows::exports::view;
use serde_json::{json, Value};

/// Exports of one project that may be running at once.
const MAX_RUNNING: u64 = 3;

/// Parts one alarm writes before it hands over to the next (`EXPORT_PARTS_PER_STEP`).
const PARTS_PER_STEP: u32 = 4;

pub fn chain_of(pr: &ProjectHandle) -> String {
    format!("project:{}", pr.as_str())
}

/// Resolves the request's range against the chain now: `from` defaults to 1, `to` to the head;
/// a `to` past the head stops at the head (the range never grows after creation).
async fn resolve(pr: &ProjectHandle, req: &ExportRequest) -> Fallible<(u64, u64)> {
    let chain = chain_of(pr);
    let head = repo::audit::head(pr.tenant(), &chain)
        .await?
        .map_or(0, |h| h.seq);
    let from = match &req.from {
        None => 1,
        Some(Bound::Seq(n)) => (*n).min(head + 1),
        Some(Bound::Time(t)) => repo::exports::seq_at(pr, &chain, &t.to_rfc3339(), Side::From)
            .await?
            .unwrap_or(head + 1),
    };
    let to = match &req.to {
        None => head,
        Some(Bound::Seq(n)) => (*n).min(head),
        Some(Bound::Time(t)) => repo::exports::seq_at(pr, &chain, &t.to_rfc3339(), Side::To)
            .await?
            .unwrap_or(0),
    };
    Ok((from, to))
}

/// Starts an export: recorded `running` with `export.created`, then handed to the coordinator.
pub async fn start(svc: &Services, by: By<'_>, req: ExportRequest) -> Fallible<Export> {
    let pr = by.project();
    if repo::exports::running(pr).await? >= MAX_RUNNING {
        return Err(Fault::ExportsInProgress(MAX_RUNNING));
    }
    let (from_seq, to_seq) = resolve(pr, &req).await?;
    let export = Export {
        id: ExportId::generate(&mut svc.rng())?.to_string(),
        project_id: pr.as_str().to_owned(),
        status: ExportStatus::Running,
        format: req.format,
        from_seq,
        to_seq,
        actions: req.actions,
        requested_by: by.actor().render(),
        created_at: svc.now.to_rfc3339(),
        finished_at: None,
        count: None,
        first: None,
        last: None,
        files: Vec::new(),
        error: None,
    };
    let draft = Draft::new(
        by.actor(),
        Action::ExportCreated,
        format!("export:{}", export.id),
        Value::Null,
        view(&export),
    );
    by.retrying(svc.now, || async {
        let insert = repo::exports::insert(pr, &export)?;
        Ok::<_, Fault>(AppendStep::commit(vec![draft.clone()], vec![insert], ()))
    })
    .await?;
    if let Err(e) = client::start_export(svc, pr, &export.id).await {
        let _ = end(
            svc,
            pr,
            &export.id,
            Err("the export could not be handed to the project's coordinator"),
        )
        .await;
        return Err(e);
    }
    Ok(export)
}

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

fn spec_of(pr: &ProjectHandle, e: &Export, environment: Option<String>) -> ExportSpec {
    e.spec(pr.tenant().org_id().as_str(), pr.as_str(), environment)
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

/// What a finished export wrote.
pub struct Written {
    count: u64,
    first: Option<exports::Link>,
    last: Option<exports::Link>,
    files: Vec<FileDone>,
}

/// Ends a running export `succeeded` (what it wrote) or `failed` (why), audited by the system
/// as `export.completed` / `export.failed`. An export no longer running is left alone.
pub async fn end(
    svc: &Services,
    pr: &ProjectHandle,
    id: &str,
    outcome: Result<Written, &str>,
) -> Fallible<()> {
    let by = By::System {
        project: pr,
        job: "export",
    };
    let outcome = &outcome;
    by.retrying(svc.now, || async move {
        let Some(current) = repo::exports::get(pr, id).await? else {
            return Ok(AppendStep::Done(()));
        };
        if current.status != ExportStatus::Running {
            return Ok(AppendStep::Done(()));
        }
        let mut after = current.clone();
        after.finished_at = Some(svc.now.to_rfc3339());
        let action = match outcome {
            Ok(w) => {
                after.status = ExportStatus::Succeeded;
                after.count = Some(w.count);
                after.first.clone_from(&w.first);
                after.last.clone_from(&w.last);
                after.files.clone_from(&w.files);
                Action::ExportCompleted
            }
            Err(why) => {
                after.status = ExportStatus::Failed;
                after.error = Some((*why).to_owned());
                Action::ExportFailed
            }
        };
        let draft = Draft::new(
            Actor::System("export"),
            action,
            format!("export:{id}"),
            json!({"status": current.status}),
            view(&after),
        );
        let change = repo::exports::finish(pr, &after)?;
        Ok(AppendStep::commit(vec![draft], vec![change], ()))
    })
    .await
}

/// Checks that `name` is a file of a finished export, and records the download
/// (`export.downloaded`) before anything is read; returns the object key and its type.
pub async fn download(
    svc: &Services,
    by: By<'_>,
    export: &Export,
    name: &str,
) -> Fallible<(String, &'static str)> {
    let content_type = match name {
        MANIFEST => "application/json",
        SIGNATURE => "application/octet-stream",
        other => FileKind::of_name(other)
            .map(FileKind::content_type)
            .ok_or(Fault::NotFound("export file"))?,
    };
    if !export.files.iter().any(|f| f.name == name) {
        return Err(match export.status {
            ExportStatus::Running
                if export.format.files().iter().any(|k| k.name() == name)
                    || name == MANIFEST
                    || name == SIGNATURE =>
            {
                Fault::ExportRunning
            }
            _ => Fault::NotFound("export file"),
        });
    }
    let pr = by.project();
    let draft = Draft::new(
        by.actor(),
        Action::ExportDownloaded,
        format!("export:{}", export.id),
        Value::Null,
        json!({"file": name}),
    );
    by.retrying(svc.now, || async {
        Ok::<_, Fault>(AppendStep::commit(vec![draft.clone()], vec![], ()))
    })
    .await?;
    Ok((spec_of(pr, export, None).object_key(name), content_type))
}
