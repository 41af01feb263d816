//! The one client of the project coordinators: every caller (handlers, runs, exports, webhooks,
//! the cron) reaches a project's `ProjectCoordinator` through these typed operations. A
//! hand-over (a run, an export, a wake) is answered at once (`202`) and the work goes on in the
//! coordinator's alarms; an approval is answered with the final repair, or with the error the
//! coordinator rendered, relayed as it is.

use crate::auth::scope::ProjectHandle;
use crate::clock::within;
use crate::error::OrInternal;
use crate::services::Services;
use parityrail_core::api::coordinator::{Approval, Assignment, CallerSeal, ExportAssignment, Op};
use parityrail_core::api::error::{ApiError, Relayed};
use parityrail_core::domain::apikey::Environment;
use parityrail_core::domain::ids::RepairId;
use parityrail_core::fault::{Fallible, Fault};

/// The deadline of a hand-over (the coordinator answers at once; the work goes on in its
/// alarms).
const HAND_OVER_MS: u64 = 15_000;

/// How long an approval's answer is waited for: longer than an approval's own limits on the
/// database and Stripe, after which the coordinator's recovery finishes it.
const APPROVAL_ANSWER_MS: u64 = 150_000;

/// Hands run `run` of the project to its coordinator.
pub async fn start_run(svc: &Services, pr: &ProjectHandle, run: &str) -> Fallible<()> {
    let a = assignment(pr, run);
    hand_over(svc, pr, Op::StartRun, body(&a)?, "a run").await
}

/// Hands export `export` of the project to its coordinator.
pub async fn start_export(svc: &Services, pr: &ProjectHandle, export: &str) -> Fallible<()> {
    let a = ExportAssignment {
        org: pr.tenant().org_id().to_string(),
        project: pr.as_str().to_owned(),
        export: export.to_owned(),
    };
    hand_over(svc, pr, Op::StartExport, body(&a)?, "an export").await
}

/// Asks the project's coordinator to drain its outbox soon.
pub async fn wake_outbox(svc: &Services, pr: &ProjectHandle) -> Fallible<()> {
    let a = assignment(pr, "");
    hand_over(svc, pr, Op::WakeOutbox, body(&a)?, "a wake").await
}

/// Asks the project's coordinator to look for grants to approve automatically, now.
pub async fn wake_repairs(svc: &Services, pr: &ProjectHandle) -> Fallible<()> {
    let a = assignment(pr, "");
    hand_over(svc, pr, Op::WakeRepairs, body(&a)?, "a wake").await
}

/// Has the project's coordinator approve, execute and verify a repair for the person `caller`
/// (as authentication read them) in `pr` (a project the caller passed the tenancy check for);
/// the final repair (its API view), or the error the coordinator answered. No answer in time is
/// a `503`; the approval then finishes (or is recovered) in the coordinator. Only the
/// coordinator itself approves without a person (`auto_approve_grants`), never through here.
pub async fn approve(
    svc: &Services,
    pr: &ProjectHandle,
    environment: Environment,
    repair: &RepairId,
    caller: CallerSeal,
) -> Result<serde_json::Value, ApiError> {
    let a = Approval {
        org: pr.tenant().org_id().to_string(),
        project: pr.as_str().to_owned(),
        repair: repair.to_string(),
        environment,
        caller: Some(caller),
    };
    let body = serde_json::to_string(&a).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut res = within(
        APPROVAL_ANSWER_MS,
        post(svc, pr.as_str(), Op::Approve, body)?,
    )
    .await
    .ok_or_else(|| {
        ApiError::from(Fault::CoordinatorUnavailable(
            "the coordinator did not answer the approval in time".into(),
        ))
    })?
    .or_internal()?;
    let status = res.status_code();
    let value: serde_json::Value = res.json().await.or_internal()?;
    if status == 200 {
        return Ok(value);
    }
    match serde_json::from_value::<Relayed>(value) {
        Ok(relayed) => Err(relayed.into()),
        Err(e) => Err(ApiError::internal(format!(
            "coordinator answered {status}: {e}"
        ))),
    }
}

fn assignment(pr: &ProjectHandle, run: &str) -> Assignment {
    Assignment {
        org: pr.tenant().org_id().to_string(),
        project: pr.as_str().to_owned(),
        run: run.to_owned(),
    }
}

fn body(v: &impl serde::Serialize) -> Fallible<String> {
    serde_json::to_string(v).map_err(|e| Fault::internal(e.to_string()))
}

/// The request of `op` with `body` to the coordinator of `project` (sent when awaited).
fn post(
    svc: &Services,
    project: &str,
    op: Op,
    body: String,
) -> Fallible<impl std::future::Future<Output = worker::Result<worker::Response>>> {
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post)
        .with_body(Some(body.into()));
    let req = worker::Request::new_with_init(&format!("https://coordinator{}", op.path()), &init)
        .or_internal()?;
    let stub = svc
        .coordinators()
        .and_then(|ns| ns.id_from_name(project)?.get_stub())
        .map_err(|e| Fault::internal(format!("coordinator: {e}")))?;
    Ok(async move { stub.fetch_with_request(req).await })
}

/// `op` handed over: `Ok` when the coordinator took it (`202`), else
/// `Fault::CoordinatorUnavailable` naming `what` (with the status, for the log).
async fn hand_over(
    svc: &Services,
    pr: &ProjectHandle,
    op: Op,
    body: String,
    what: &str,
) -> Fallible<()> {
    let path = op.path();
    let status = within(HAND_OVER_MS, post(svc, pr.as_str(), op, body)?)
        .await
        .ok_or_else(|| {
            Fault::CoordinatorUnavailable(format!("coordinator did not answer {path} ({what})"))
        })?
        .or_internal()?
        .status_code();
    if status == 202 {
        return Ok(());
    }
    Err(Fault::CoordinatorUnavailable(format!(
        "coordinator answered {status} to {path} ({what})"
    )))
}
