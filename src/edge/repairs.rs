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
use super::reconcile::{check_customer, mapping, read_stripe};
use super::repo;
use super::services::{clock, Services};
use crate::api::error::database_error;
use crate::domain::apikey::Environment;
use crate::domain::append::Step;
use crate::domain::audit::{Actor, Draft};
use crate::domain::incidents::IncidentStatus;
use crate::domain::mapping::Mapping;
use crate::domain::reconcile;
use crate::domain::repairs::{
    effect, same_columns, still_wanted, Effect, ExecPlan, Repair, RepairStatus,
};
use crate::domain::time::Timestamp;
use crate::fault::{Fallible, Fault, RepairRefusal};
use crate::pg::Outcome;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What the worker hands the coordinator to approve a repair.
#[derive(Serialize, Deserialize)]
pub struct Approval {
    pub org: String,
    pub project: String,
    pub repair: String,
    pub environment: Environment,
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
/// `AUTO_PER_ALARM`), and whether more may wait. Judged as the approval will judge them (the
/// current mapping: still a grant, still executable); a grant whose incident already had a
/// repair fail, or go stale three times, is left to a person: approving it again would end the
/// same way, on every check. Reads pending grants 50 at a time, at most 500.
pub async fn auto_approvable(pr: &ProjectHandle) -> Fallible<(Vec<Repair>, bool)> {
    const PAGE: u32 = 50;
    let Some((m, _)) = repo::mappings::get(pr).await? else {
        return Ok((Vec::new(), false));
    };
    let mut out = Vec::new();
    let mut after = String::new();
    for _ in 0..10 {
        let filter = repo::repairs::Filter {
            status: Some(RepairStatus::Pending),
            effect: Some(Effect::Grant),
            ..Default::default()
        };
        let page = repo::repairs::list(pr, &filter, &after, PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        after.clone_from(&last.id);
        let full = page.len() == PAGE as usize;
        let candidates: Vec<Repair> = page
            .into_iter()
            .filter(|r| ExecPlan::new(r, &m).is_ok() && effect(&m, &r.changes) == Effect::Grant)
            .collect();
        let ids: Vec<String> = candidates.iter().map(|r| r.incident_id.clone()).collect();
        let setbacks = repo::repairs::setbacks(pr, &ids).await?;
        for r in candidates {
            let count = |s: &str| {
                setbacks
                    .iter()
                    .filter(|(i, st)| *i == r.incident_id && st == s)
                    .count()
            };
            if count("failed") > 0 || count("stale") >= 3 {
                continue;
            }
            if out.len() == AUTO_PER_ALARM {
                return Ok((out, true));
            }
            out.push(r);
        }
        if !full {
            break;
        }
    }
    Ok((out, false))
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

fn not_executable(e: impl std::fmt::Display) -> Fault {
    Fault::Repair(RepairRefusal::NotExecutable(e.to_string()))
}

fn not_pending(r: &Repair) -> Fault {
    Fault::Repair(RepairRefusal::NotPending(r.status.as_str()))
}

/// What a claim requires besides the repair being `pending`.
#[derive(Clone, Copy)]
enum Claim<'a> {
    /// Any other transition: no more.
    No,
    /// `pending → executing`: the caller guard (when a caller approves), and the repair's
    /// incident still open (a drift that resolved meanwhile must not be "fixed").
    Approval(Option<&'a CallerSeal>),
}

/// One status change of a repair, on the project chain: reads the repair after the chain head
/// and commits `change(repair)` guarded by the repair guard (the batch aborts unless the repair
/// is still in the status read) and, for an approval, by `Claim::Approval`'s checks.
async fn move_repair(
    ctx: &Services,
    pr: &ProjectHandle,
    rid: &str,
    actor: &Actor,
    action: &'static str,
    claim: Claim<'_>,
    change: impl Fn(&Repair) -> Fallible<Repair>,
) -> Fallible<Repair> {
    retrying(pr.tenant(), Chain::Project(pr), ctx.now, || async {
        let before = repo::repairs::get(pr, rid)
            .await?
            .ok_or(Fault::NotFound("repair"))?;
        let after = change(&before)?;
        if !before.status.may_become(after.status) {
            return Err(not_pending(&before));
        }
        let mut stmts = Vec::new();
        if let Claim::Approval(caller) = claim {
            // Read after the chain head like the repair: incident changes append to the same
            // chain, so what this sees is what holds when the batch commits.
            let open = repo::incidents::get(pr, &before.incident_id)
                .await?
                .is_some_and(|i| i.status == IncidentStatus::Open);
            if !open {
                return Err(Fault::IncidentNotOpen);
            }
            if let Some(c) = caller {
                stmts.push(c.guard(pr, clock())?);
            }
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

/// `move_repair` to `target` (`fill` sets what else changes) for what the system records after
/// the customer's database answered: tried
/// again (D1 busy, the chain contended) before giving up, since the outcome must not be lost.
/// What still fails is recovered by the coordinator (`recover`).
async fn record(
    ctx: &Services,
    pr: &ProjectHandle,
    rid: &str,
    (action, target): (&'static str, RepairStatus),
    fill: impl Fn(&mut Repair, Timestamp),
) -> Fallible<Repair> {
    let system = Actor::System(SYSTEM);
    let change = |r: &Repair| {
        let now = clock();
        let mut after = r.moved(target, now);
        fill(&mut after, now);
        Ok(after)
    };
    let mut last = None;
    for attempt in 0..3u32 {
        if attempt > 0 {
            worker::Delay::from(std::time::Duration::from_millis(500 << attempt)).await;
        }
        match move_repair(ctx, pr, rid, &system, action, Claim::No, &change).await {
            Ok(r) => return Ok(r),
            Err(e) if e.is_transient() => last = Some(e),
            Err(Fault::Repair(why)) if why.moved_elsewhere() && attempt > 0 => {
                // An earlier attempt committed and only its answer was lost.
                return match repo::repairs::get(pr, rid).await? {
                    Some(r) if r.status == target => Ok(r),
                    _ => Err(Fault::Repair(why)),
                };
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| Fault::internal("recording a repair failed")))
}

/// Approves, executes and verifies one repair (the coordinator's `POST /repairs/approve`).
///
/// `still_ours` fences the approval against a recovery taking it over (the coordinator
/// replaced while it ran): asked before the claim commits and before the COMMIT is sent.
pub async fn approve(
    ctx: &Services,
    pr: &ProjectHandle,
    a: &Approval,
    still_ours: &dyn Fn() -> bool,
) -> Fallible<Repair> {
    let env = a.environment;
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
        Claim::Approval(a.caller.as_ref()),
        |r| {
            if r.status != RepairStatus::Pending {
                return Err(not_pending(r));
            }
            if !still_ours() {
                return Err(Fault::Repair(RepairRefusal::TakenOver));
            }
            ExecPlan::new(r, &m).map_err(not_executable)?;
            // Automatic approval takes grants only, judged by the mapping as it is now (plan
            // ranks may have changed since the repair was suggested): never a revocation or a
            // plan downgrade.
            if a.caller.is_none() && effect(&m, &r.changes) != Effect::Grant {
                return Err(Fault::Repair(RepairRefusal::NeedsAPerson));
            }
            let mut after = r.moved(RepairStatus::Executing, clock());
            after.approved_by = Some(approver.render());
            Ok(after)
        },
    )
    .await?;
    // Fault injection for the recovery test only (REPAIR_FAULT_STOP_AFTER_CLAIM=1): the approval
    // stops once the repair is `executing`, before the database is opened, as a reset would.
    if ctx.var("REPAIR_FAULT_STOP_AFTER_CLAIM").as_deref() == Some("1") {
        return Err(Fault::internal("injected stop after the claim"));
    }
    let plan = ExecPlan::new(&claimed, &m).map_err(not_executable)?;
    if let Some(why) = stripe_objection(ctx, pr, &m, &claimed).await {
        return record(
            ctx,
            pr,
            &a.repair,
            ("repair.stale", RepairStatus::Stale),
            |after, now| {
                after.executed_at = Some(now);
                after.error = Some(format!("{why}; nothing was written"));
            },
        )
        .await;
    }
    // The repair is `executing` in D1: only now is the customer's database opened.
    let outcome = match ctx.pg_repair(&url).await {
        Ok(session) => session.execute(&plan, still_ours).await,
        Err(e) => Err(e),
    };
    let (status, action) = match &outcome {
        Ok(Outcome::Executed { .. }) => (RepairStatus::Executed, "repair.executed"),
        Ok(Outcome::Stale { .. }) => (RepairStatus::Stale, "repair.stale"),
        Ok(
            Outcome::Missing | Outcome::Duplicate | Outcome::Unconfirmed { .. } | Outcome::Fenced,
        )
        | Err(_) => (RepairStatus::Failed, "repair.failed"),
    };
    let executed = record(ctx, pr, &a.repair, (action, status), |after, now| {
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
                after.error = Some(
                    "the repair role finds no row with this customer's key (gone, or hidden from \
                     it); nothing was written"
                        .into(),
                );
            }
            Ok(Outcome::Duplicate) => {
                after.error =
                    Some("more than one row has this customer's key; nothing was written".into());
            }
            Ok(Outcome::Fenced) => {
                after.error = Some(
                    "the approval was taken over before its commit; nothing was written".into(),
                );
            }
            Ok(Outcome::Unconfirmed {
                before,
                after: row,
                error,
            }) => {
                let (code, message) = database_error(error.kind);
                after.row_before = Some(before.clone());
                after.row_after = Some(row.clone());
                after.error = Some(format!(
                    "{code}: {message}; the database did not confirm the commit, so the row may \
                     or may not have been written; the customer was checked again"
                ));
            }
            Err(e) => {
                let (code, message) = database_error(e.kind);
                after.error = Some(format!("{code}: {message}; nothing was written"));
            }
        }
    })
    .await?;
    match executed.status {
        RepairStatus::Executed => verify(ctx, pr, env, &executed).await,
        RepairStatus::Failed if matches!(outcome, Ok(Outcome::Unconfirmed { .. })) => {
            // The failure stands as recorded; the check only brings the incidents up to date
            // (a failed check is the next check's to do).
            let _ = recheck(ctx, pr, env, &executed.customer).await;
            Ok(executed)
        }
        _ => Ok(executed),
    }
}

/// Why a repair that takes anything away must not run now, if it must not: checked against
/// Stripe once more right before it runs, so a customer who paid (or entered a `keep` state)
/// since it was suggested keeps their access. Stripe unreadable refuses it too: nothing is
/// taken on a guess. A grant is never held back.
async fn stripe_objection(
    ctx: &Services,
    pr: &ProjectHandle,
    m: &Mapping,
    r: &Repair,
) -> Option<String> {
    // Judged by the mapping as it is now (plan ranks may have changed since the suggestion).
    if effect(m, &r.changes) == Effect::Grant {
        return None;
    }
    let read = async {
        let client = project_io::stripe(ctx, pr).await?;
        read_stripe(m, &client, &r.customer).await
    };
    match read.await {
        Ok((Some(side), features)) => {
            let expected = reconcile::expected(m, &side, &features);
            (!still_wanted(m, &r.changes, &expected)).then(|| {
                "Stripe no longer asks for this change (the customer paid or entered a grace \
                 state since it was suggested)"
                    .to_owned()
            })
        }
        Ok((None, _)) => None,
        Err(e) => Some(format!(
            "Stripe could not be read to confirm it ({})",
            e.code()
        )),
    }
}

/// Checks the customer again (Stripe and the read connection, incidents audited as the
/// system), returning its open and ignored incidents.
async fn recheck(
    ctx: &Services,
    pr: &ProjectHandle,
    env: Environment,
    customer: &str,
) -> Fallible<Vec<crate::domain::incidents::Incident>> {
    let by = By::System {
        project: pr,
        job: SYSTEM,
    };
    check_customer(ctx, by, env, customer).await
}

/// Re-checks the customer and records whether the repair brought parity to what it repaired:
/// `verified` only when its incident resolved and no open incident of the customer is about the
/// columns it wrote (a write that took access from a customer who paid meanwhile opens one).
async fn verify(
    ctx: &Services,
    pr: &ProjectHandle,
    env: Environment,
    r: &Repair,
) -> Fallible<Repair> {
    let checked = recheck(ctx, pr, env, &r.customer).await;
    let incident = repo::incidents::get(pr, &r.incident_id).await?;
    let kind = incident.as_ref().map(|i| i.kind);
    let resolved = incident.is_some_and(|i| i.status == IncidentStatus::Resolved);
    let still = match (&checked, kind) {
        (Ok(live), Some(kind)) => live
            .iter()
            .filter(|i| i.status == IncidentStatus::Open && same_columns(i.kind, kind))
            .map(|i| i.kind.as_str())
            .collect::<Vec<_>>(),
        _ => Vec::new(),
    };
    let parity = checked.is_ok() && resolved && still.is_empty();
    let (status, action) = if parity {
        (RepairStatus::Verified, "repair.verified")
    } else {
        (RepairStatus::Unverified, "repair.unverified")
    };
    record(ctx, pr, &r.id, (action, status), |after, now| {
        after.verified_at = Some(now);
        after.error = match &checked {
            Err(e) => Some(format!(
                "the re-check failed ({}): {}",
                e.code(),
                e.message()
            )),
            Ok(_) if !resolved => {
                Some("the re-check still shows the drift: the incident stays open".to_owned())
            }
            Ok(_) if !still.is_empty() => Some(format!(
                "the re-check shows a new drift in the columns it wrote ({})",
                still.join(", ")
            )),
            Ok(_) => None,
        };
    })
    .await
}

/// Finishes a repair whose approval stopped before its outcome was recorded (the coordinator
/// was reset, or D1 kept failing): still `executing`, its outcome is unknown, so it is recorded
/// `failed` as such and the customer checked again; `executed` is verified. Anything else is
/// already final.
pub async fn recover(
    ctx: &Services,
    pr: &ProjectHandle,
    rid: &str,
    env: Environment,
) -> Fallible<()> {
    let Some(r) = repo::repairs::get(pr, rid).await? else {
        return Ok(());
    };
    match r.status {
        RepairStatus::Executing => {
            record(
                ctx,
                pr,
                rid,
                ("repair.failed", RepairStatus::Failed),
                |after, now| {
                    after.executed_at = Some(now);
                    after.error = Some(
                    "ParityRail stopped before recording this repair's outcome: the row may or may \
                     not have been written; the customer was checked again"
                        .to_owned(),
                );
                },
            )
            .await?;
            recheck(ctx, pr, env, &r.customer).await?;
        }
        RepairStatus::Executed => {
            verify(ctx, pr, env, &r).await?;
        }
        _ => {}
    }
    Ok(())
}

/// Rejects a pending repair with a reason, as the caller (`POST …/repairs/{rid}/reject`).
pub async fn reject(ctx: &Services, by: By<'_>, rid: &str, reason: &str) -> Fallible<Repair> {
    let (pr, actor, now) = (by.project(), by.actor(), ctx.now);
    by.retrying(now, || async {
        let before = repo::repairs::get(pr, rid)
            .await?
            .ok_or(Fault::NotFound("repair"))?;
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
