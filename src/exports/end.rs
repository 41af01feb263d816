//! What both workers do to an export: where its files go and its end, audited by the system
//! (the coordinator ends the exports it wrote or gave up on; the edge, one it could not hand
//! over).

use crate::audit::By;
use crate::auth::scope::ProjectHandle;
use crate::repo;
use crate::repo::exports::{Export, ExportStatus};
use crate::services::Services;
use parityrail_core::domain::append::Step as AppendStep;
use parityrail_core::domain::audit::{Action, Actor, Draft};
use parityrail_core::domain::exports::{self, ExportSpec, FileDone};
use parityrail_core::fault::Fallible;
use parityrail_core::rows::exports::view;
use serde_json::json;

pub fn spec_of(pr: &ProjectHandle, e: &Export, environment: Option<String>) -> ExportSpec {
    e.spec(pr.tenant().org_id().as_str(), pr.as_str(), environment)
}

/// What a finished export wrote.
pub struct Written {
    pub count: u64,
    pub first: Option<exports::Link>,
    pub last: Option<exports::Link>,
    pub files: Vec<FileDone>,
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
