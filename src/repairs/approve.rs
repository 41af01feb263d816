//! Approvals, in the coordinator's worker: the platform an approval runs on (`ProjectDesk`, the
//! port of `domain::approval`: the project chain in D1, Stripe, the repair credential, the
//! re-check), one approval and the recovery of one cut short, and the pending grants a project
//! approves on its own.

use crate::audit::{retrying, By, Chain};
use crate::auth::principal::{self, CallerSeal};
use crate::auth::scope::ProjectHandle;
use crate::clock::clock;
use crate::project_io;
use crate::reconcile::{check_customer, mapping, read_stripe};
use crate::repo;
use crate::services::Services;
use parityrail_core::api::coordinator::Approval;
use parityrail_core::domain::apikey::Environment;
use parityrail_core::domain::append::Step;
use parityrail_core::domain::approval::{
    self, Approver, Ask, CommitCheck, Decide, Desk, Move, Outcome, Stop,
};
use parityrail_core::domain::audit::{Actor, Draft};
use parityrail_core::domain::auto_approve::{self, PendingGrants};
use parityrail_core::domain::incidents::Incident;
use parityrail_core::domain::integrations::DbUrl;
use parityrail_core::domain::mapping::Mapping;
use parityrail_core::domain::reconcile::{ProductFeatures, StripeCustomer};
use parityrail_core::domain::repair_plan::ExecPlan;
use parityrail_core::domain::repairs::{Effect, Repair, RepairStatus};
use parityrail_core::domain::time::Timestamp;
use parityrail_core::fault::{Fallible, Fault};
use serde_json::json;

/// The job name of the system's re-checks around a repair (`system:repair`).
const SYSTEM_JOB: &str = "repair";

/// The project's pending grants that may be approved automatically now, and whether more may
/// wait (`domain::auto_approve::select` over D1).
pub async fn auto_approvable(pr: &ProjectHandle) -> Fallible<(Vec<Repair>, bool)> {
    auto_approve::select(&D1Grants(pr)).await
}

/// The project's repairs as automatic approval reads them.
struct D1Grants<'a>(&'a ProjectHandle);

impl PendingGrants for D1Grants<'_> {
    type Error = Fault;

    async fn mapping(&self) -> Fallible<Option<Mapping>> {
        Ok(repo::mappings::get(self.0).await?.map(|(m, _)| m))
    }

    async fn pending(&self, after: &str, limit: u32) -> Fallible<Vec<Repair>> {
        let filter = repo::repairs::Filter {
            status: Some(RepairStatus::Pending),
            effect: Some(Effect::Grant),
            ..Default::default()
        };
        repo::repairs::list(self.0, &filter, after, limit).await
    }

    async fn setbacks(&self, customers: &[String]) -> Fallible<Vec<(String, RepairStatus)>> {
        let rows = repo::repairs::setbacks(self.0, customers).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(i, s)| RepairStatus::parse(&s).map(|s| (i, s)))
            .collect())
    }
}

/// The platform an approval runs on (`domain::approval::Desk`): the project chain in D1, the
/// project's Stripe key, the repair credential and the re-check, for one project.
struct ProjectDesk<'a> {
    svc: &'a Services,
    pr: &'a ProjectHandle,
    env: Environment,
    /// The repair credential, resolved before the approval starts (`None` for a recovery,
    /// which never runs a transaction).
    url: Option<DbUrl>,
    /// The approving caller, whose guard a claim's batch carries.
    caller: Option<&'a CallerSeal>,
}

impl Desk for ProjectDesk<'_> {
    type Error = Fault;

    fn now(&self) -> Timestamp {
        clock()
    }

    async fn pause(&self, ms: u64) {
        worker::Delay::from(std::time::Duration::from_millis(ms)).await;
    }

    async fn repair(&self, id: &str) -> Fallible<Option<Repair>> {
        repo::repairs::get(self.pr, id).await
    }

    async fn incident(&self, id: &str) -> Fallible<Option<Incident>> {
        repo::incidents::get(self.pr, id).await
    }

    async fn commit(&self, id: &str, mv: Move<'_>, decide: Decide<'_, Fault>) -> Fallible<Repair> {
        let pr = self.pr;
        let committed = retrying(pr.tenant(), Chain::Project(pr), self.svc.now, || async {
            let before = repo::repairs::get(pr, id).await?.ok_or(Stop::NotFound)?;
            // Read after the chain head like the repair: incident changes append to the same
            // chain, so what is read holds when the batch commits.
            let mut incidents = Vec::new();
            if mv.check == CommitCheck::Claim {
                for iid in &before.incident_ids {
                    incidents.extend(repo::incidents::get(pr, iid).await?);
                }
            }
            let after = decide(&before, &incidents)?;
            let mut stmts = Vec::new();
            if mv.check == CommitCheck::Claim {
                // A member's claim carries that member's caller check, the system's automatic
                // approval the guard that the project still approves grants automatically. A
                // mismatch is ours, and claims nothing.
                match (mv.actor, self.caller) {
                    (Actor::Member { .. }, Some(c)) => {
                        stmts.push(principal::sealed_caller_check(c, pr, clock())?)
                    }
                    (Actor::System(_), None) => stmts.push(repo::callers::automatic(pr)?),
                    _ => return Err(Fault::internal("a claim whose approver is not its caller")),
                }
            }
            stmts.extend(repo::repairs::transition(pr, &before, &after)?);
            let draft = Draft::new(
                mv.actor.clone(),
                mv.action,
                format!("repair:{id}"),
                json!(before),
                json!(after),
            );
            Ok::<_, Fault>(Step::commit(vec![draft], stmts, after))
        })
        .await?;
        // Fault injection for the recovery test only (REPAIR_FAULT_STOP_AFTER_CLAIM=1, in the
        // e2e build): the approval stops once the repair is `executing`, before the database is
        // opened, as a reset would.
        #[cfg(feature = "fault-hooks")]
        if mv.check == CommitCheck::Claim
            && self.svc.var("REPAIR_FAULT_STOP_AFTER_CLAIM").as_deref() == Some("1")
        {
            return Err(Fault::internal("injected stop after the claim"));
        }
        Ok(committed)
    }

    async fn stripe(
        &self,
        m: &Mapping,
        customer: &str,
    ) -> Fallible<Option<(StripeCustomer, ProductFeatures)>> {
        let client = project_io::stripe(self.svc, self.pr).await?;
        let (side, features) = read_stripe(m, &client, customer).await?;
        Ok(side.map(|s| (s, features)))
    }

    async fn execute(
        &self,
        plan: &ExecPlan,
        still_ours: &dyn Fn() -> bool,
    ) -> Fallible<Outcome<Fault>> {
        let url = self
            .url
            .as_ref()
            .ok_or_else(|| Fault::internal("a repair ran without its credential"))?;
        let session = self.svc.pg_repair(url).await?;
        let outcome = session.execute(plan, still_ours).await?;
        Ok(outcome.map_error(Fault::Database))
    }

    async fn recheck(&self, customer: &str) -> Fallible<Vec<Incident>> {
        let by = By::System {
            project: self.pr,
            job: SYSTEM_JOB,
        };
        check_customer(self.svc, by, self.env, customer).await
    }
}

/// Approves, executes and verifies one repair (the coordinator's `POST /repairs/approve`;
/// `domain::approval::approve`). Everything that can refuse without touching the repair
/// refuses first: no mapping, no repair credential.
///
/// `still_ours` fences the approval against a recovery taking it over (the coordinator
/// replaced while it ran): asked before the claim commits and before the COMMIT is sent.
pub async fn approve(
    svc: &Services,
    pr: &ProjectHandle,
    a: &Approval,
    still_ours: &dyn Fn() -> bool,
) -> Fallible<Repair> {
    let m = mapping(pr).await?;
    let url = project_io::repair_url(svc, pr, a.environment).await?;
    let ask = Ask {
        repair: a.repair.clone(),
        approver: match &a.caller {
            Some(c) => c.approver()?,
            None => Approver::Automatic,
        },
    };
    let desk = ProjectDesk {
        svc,
        pr,
        env: a.environment,
        url: Some(url),
        caller: a.caller.as_ref(),
    };
    approval::approve(&desk, &m, &ask, still_ours).await
}

/// Finishes a repair whose approval stopped before its outcome was recorded
/// (`domain::approval::recover`).
pub async fn recover(
    svc: &Services,
    pr: &ProjectHandle,
    rid: &str,
    env: Environment,
) -> Fallible<()> {
    let desk = ProjectDesk {
        svc,
        pr,
        env,
        url: None,
        caller: None,
    };
    approval::recover(&desk, rid).await
}
