//! Exports at the edge: started (recorded, then handed to the project's coordinator) and
//! downloaded (audited first).

use super::end::{end, spec_of};
use crate::audit::By;
use crate::auth::scope::ProjectHandle;
use crate::coordinator::client;
use crate::repo;
use crate::repo::exports::{Export, ExportStatus, Side};
use crate::services::Services;
use parityrail_core::domain::append::Step as AppendStep;
use parityrail_core::domain::audit::{Action, Draft};
use parityrail_core::domain::exports::{Bound, ExportRequest, FileKind, MANIFEST, SIGNATURE};
use parityrail_core::domain::ids::ExportId;
use parityrail_core::fault::{Fallible, Fault};
use parityrail_core::rows::exports::view;
use serde_json::{json, Value};

/// Exports of one project that may be running at once.
const MAX_RUNNING: u64 = 3;

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
