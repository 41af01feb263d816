//! Repairs at the edge (SPEC §8): approval, execution and verification of one repair, run by the
//! project's `ProjectCoordinator` (so approvals of one project are serialised), and the API view.
//!
//! An approval is four commits on the project chain and one database transaction:
//! 1. `repair.approved` by the approving caller: `pending → executing`, guarded by the caller
//!    guard and the repair guard (the batch aborts unless the repair is still `pending`), before
//!    any connection to the customer's database is opened;
//! 2. the transaction (`pg::RepairSession::execute`) on the repair credential;
//! 3. `repair.executed`, `repair.stale` or `repair.failed` by `system:repair`, with the row as
//!    locked and as written;
//! 4. the re-check of the customer through Stripe and the read connection (its incident
//!    changes audited as `system:repair`), then `repair.verified` when the repaired incident
//!    resolved, `repair.unverified` otherwise.

use super::audit::{retrying, By, Chain};
use super::auth::scope::ProjectHandle;
use super::auth::CallerSeal;
use super::project_io;
use super::reconcile::{check_customer, mapping};
use super::repo;
use super::services::{clock, Services};
use crate::api::error::{database_error, ApiError, ApiResult};
use crate::domain::apikey::Environment;
use crate::domain::append::Step;
use crate::domain::audit::{Actor, Draft};
use crate::domain::incidents::IncidentStatus;
use crate::domain::mapping::Mapping;
use crate::domain::repairs::{Effect, ExecPlan, Repair, RepairStatus};
use crate::pg::Outcome;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What the worker hands the coordinator to approve a repair.
#[derive(Serialize, Deserialize)]
pub struct Approval {
    pub org: String,
    pub project: String,
    pub repair: String,
    pub environment: String,
    /// The approving caller; `None` for the project's automatic approval of grants
    /// (`auto_approve_grants`), recorded as `system:auto_approve`.
    pub caller: Option<CallerSeal>,
}

/// The actor of everything ParityRail does on its own once a repair is approved.
const SYSTEM: &str = "repair";
/// The approver of grants a project approves automatically.
pub const AUTO: &str = "auto_approve";

/// Pending grants approved automatically per coordinator alarm.
const AUTO_PER_ALARM: usize = 5;

/// The project's pending grants that may be approved automatically now (at most
/// `AUTO_PER_ALARM`), and whether more wait. A grant whose incident already had a repair fail
/// is left to a person: approving it again would fail again, on every check.
pub async fn auto_approvable(pr: &ProjectHandle) -> ApiResult<(Vec<Repair>, bool)> {
    let pending = repo::repairs::list(
        pr,
        &repo::repairs::Filter {
            status: Some(RepairStatus::Pending),
            ..Default::default()
        },
        "",
        100,
    )
    .await?;
    let mut out = Vec::new();
    let mut more = false;
    for r in pending.into_iter().filter(|r| r.effect == Effect::Grant) {
        if out.len() == AUTO_PER_ALARM {
            more = true;
            break;
        }
        let failed = repo::repairs::list(
            pr,
            &repo::repairs::Filter {
                status: Some(RepairStatus::Failed),
                incident: Some(r.incident_id.clone()),
                ..Default::default()
            },
            "",
            1,
        )
        .await?;
        if failed.is_empty() {
            out.push(r);
        }
    }
    Ok((out, more))
}

/// The API view of a repair (SPEC §15 fields) with the statements it runs, values apart, as the
/// current mapping builds them; `refused` says why it cannot run as stored.
pub fn view(r: &Repair, m: Option<&Mapping>) -> Value {
    let mut v = json!(r);
    v["statement"] = match m.map(|m| ExecPlan::new(r, m)) {
        Some(Ok(plan)) => plan.preview(),
        Some(Err(refusal)) => json!({"refused": refusal.to_string()}),
        None => Value::Null,
    };
    v
}

fn not_pending(r: &Repair) -> ApiError {
    ApiError::conflict(
        "repair_not_pending",
        format!(
            "the repair is {}; only a pending repair can be approved or rejected",
            r.status.as_str()
        ),
    )
}

/// One status change of a repair, on the project chain: reads the repair after the chain head,
/// requires it in `from`, and commits `change(repair)` guarded by the repair guard (and by
/// `extra`'s statements first, the caller guard of an approval).
async fn move_repair(
    ctx: &Services,
    pr: &ProjectHandle,
    rid: &str,
    actor: &Actor,
    action: &'static str,
    caller: Option<&CallerSeal>,
    change: impl Fn(&Repair) -> ApiResult<Repair>,
) -> ApiResult<Repair> {
    retrying(pr.tenant(), Chain::Project(pr), ctx.now, || async {
        let before = repo::repairs::get(pr, rid)
            .await?
            .ok_or_else(|| ApiError::not_found("repair"))?;
        let after = change(&before)?;
        if !before.status.may_become(after.status) {
            return Err(not_pending(&before));
        }
        let mut stmts = Vec::new();
        if let Some(c) = caller {
            stmts.push(c.guard(pr, clock())?);
        }
        stmts.extend(repo::repairs::transition(pr, &before, &after)?);
        let draft = Draft::new(
            actor.clone(),
            action,
            format!("repair:{rid}"),
            json!(before),
            json!(after),
        );
        Ok(Step::commit(vec![draft], stmts, after))
    })
    .await
}

/// Approves, executes and verifies one repair (the coordinator's `POST /repairs/approve`).
pub async fn approve(ctx: &Services, pr: &ProjectHandle, a: &Approval) -> ApiResult<Repair> {
    let env = Environment::parse(&a.environment)
        .ok_or_else(|| ApiError::internal("approval without an environment"))?;
    let m = mapping(pr).await?;
    // Everything that can refuse without touching the repair refuses first: no repair
    // credential, a repair that no longer fits the mapping.
    let url = project_io::repair_url(ctx, pr, env).await?;
    let approver = match &a.caller {
        Some(c) => c.actor()?,
        None => Actor::System(AUTO),
    };
    let claimed = move_repair(
        ctx,
        pr,
        &a.repair,
        &approver,
        "repair.approved",
        a.caller.as_ref(),
        |r| {
            if r.status != RepairStatus::Pending {
                return Err(not_pending(r));
            }
            // Automatic approval takes grants only: never a revocation or a plan downgrade.
            if a.caller.is_none() && r.effect != Effect::Grant {
                return Err(ApiError::conflict(
                    "repair_needs_a_person",
                    "only grants are approved automatically",
                ));
            }
            ExecPlan::new(r, &m)
                .map_err(|e| ApiError::conflict("repair_not_executable", e.to_string()))?;
            let mut after = r.moved(RepairStatus::Executing, clock());
            after.approved_by = Some(approver.render());
            Ok(after)
        },
    )
    .await?;
    let plan = ExecPlan::new(&claimed, &m)
        .map_err(|e| ApiError::conflict("repair_not_executable", e.to_string()))?;
    // The repair is `executing` in D1: only now is the customer's database opened.
    let outcome = match ctx.pg_repair(&url).await {
        Ok(session) => session.execute(&plan).await,
        Err(e) => Err(e),
    };
    let system = Actor::System(SYSTEM);
    let (status, action) = match &outcome {
        Ok(Outcome::Executed { .. }) => (RepairStatus::Executed, "repair.executed"),
        Ok(Outcome::Stale { .. } | Outcome::Missing) => (RepairStatus::Stale, "repair.stale"),
        Ok(Outcome::Duplicate) | Err(_) => (RepairStatus::Failed, "repair.failed"),
    };
    let executed = move_repair(ctx, pr, &a.repair, &system, action, None, |r| {
        let now = clock();
        let mut after = r.moved(status, now);
        after.executed_at = Some(now);
        match &outcome {
            Ok(Outcome::Executed { before, after: row }) => {
                after.row_before = Some(before.clone());
                after.row_after = Some(row.clone());
            }
            Ok(Outcome::Stale { live, columns }) => {
                after.row_before = Some(live.clone());
                after.error = Some(format!(
                    "the row changed since the repair was suggested ({}); nothing was written",
                    columns.join(", ")
                ));
            }
            Ok(Outcome::Missing) => {
                after.error =
                    Some("no row has this customer's key any more; nothing was written".into());
            }
            Ok(Outcome::Duplicate) => {
                after.error =
                    Some("more than one row has this customer's key; nothing was written".into());
            }
            Err(e) => {
                let (code, message) = database_error(e.kind);
                after.error = Some(format!("{code}: {message}; nothing was written"));
            }
        }
        Ok(after)
    })
    .await?;
    if executed.status != RepairStatus::Executed {
        return Ok(executed);
    }
    verify(ctx, pr, env, &executed).await
}

/// Re-checks the customer (Stripe and the read connection, incidents audited as the system) and
/// records whether the repaired incident resolved.
async fn verify(
    ctx: &Services,
    pr: &ProjectHandle,
    env: Environment,
    r: &Repair,
) -> ApiResult<Repair> {
    let by = By::System {
        project: pr,
        job: SYSTEM,
    };
    let checked = check_customer(ctx, by, env, &r.customer).await;
    let incident = repo::incidents::get(pr, &r.incident_id).await?;
    let resolved = incident.is_some_and(|i| i.status == IncidentStatus::Resolved);
    let (status, action) = match (&checked, resolved) {
        (Ok(_), true) => (RepairStatus::Verified, "repair.verified"),
        _ => (RepairStatus::Unverified, "repair.unverified"),
    };
    let system = Actor::System(SYSTEM);
    move_repair(ctx, pr, &r.id, &system, action, None, |r| {
        let now = clock();
        let mut after = r.moved(status, now);
        after.verified_at = Some(now);
        after.error = match &checked {
            Err(e) => Some(format!("the re-check failed ({}): {}", e.code, e.message)),
            Ok(_) if !resolved => {
                Some("the re-check still shows the drift: the incident stays open".to_owned())
            }
            Ok(_) => None,
        };
        Ok(after)
    })
    .await
}

/// Rejects a pending repair with a reason, as the caller (`POST …/repairs/{rid}/reject`).
pub async fn reject(ctx: &Services, by: By<'_>, rid: &str, reason: &str) -> ApiResult<Repair> {
    let (pr, actor, now) = (by.project(), by.actor(), ctx.now);
    by.retrying(now, || async {
        let before = repo::repairs::get(pr, rid)
            .await?
            .ok_or_else(|| ApiError::not_found("repair"))?;
        if before.status != RepairStatus::Pending {
            return Err(not_pending(&before));
        }
        let mut after = before.moved(RepairStatus::Rejected, now);
        after.reason = Some(reason.to_owned());
        let stmts = repo::repairs::transition(pr, &before, &after)?;
        let draft = Draft::new(
            actor.clone(),
            "repair.rejected",
            format!("repair:{rid}"),
            json!(before),
            json!(after),
        );
        Ok(Step::commit(vec![draft], stmts, after))
    })
    .await
}
