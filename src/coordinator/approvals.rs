//! A coordinator's repair approvals, as the ports of `domain::coordinator::inflight` and
//! `domain::auto_approve`: one approval (`crate::repairs::approve`, fenced by the coordinator's
//! token), the recovery of approvals cut short (`crate::repairs::recover`), and the project's
//! automatic approval of grants (its setting, `crate::repairs::auto_approvable`).

use super::steps::project;
use super::storage::{InflightOf, Storage, Target};
use crate::auth::grants::SystemGrant;
use crate::auth::scope::ProjectHandle;
use crate::services::Services;
use crate::{repairs, repo};
use parityrail_core::api::coordinator::Approval;
use parityrail_core::domain::apikey::Environment;
use parityrail_core::domain::approval;
use parityrail_core::domain::auto_approve::{self, AutoWork};
use parityrail_core::domain::coordinator::inflight::{
    self, ApprovalWork, Approving, Inflight, RecoverWork,
};
use parityrail_core::domain::repairs::RepairStatus;
use parityrail_core::fault::{Fallible, Fault};
use serde_json::{json, Value};
use std::cell::RefCell;
use worker::console_error;

/// How long an approval may go without its outcome recorded before the recovery finishes it
/// (`domain::approval::recover_after`). The shipped build holds `REPAIR_RECOVER_AFTER_MS` to
/// its floor of 2 minutes; only the e2e build (feature `fault-hooks`) may go below it.
fn recover_after(svc: &Services) -> i64 {
    let configured = svc
        .var("REPAIR_RECOVER_AFTER_MS")
        .and_then(|v| v.parse::<u32>().ok());
    let db = svc.var_u32("DB_TIMEOUT_MS", parityrail_core::pg::CONNECT_TIMEOUT_MS)
        + 2 * svc.var_u32(
            "DB_SESSION_TIMEOUT_MS",
            parityrail_core::pg::SESSION_TIMEOUT_MS,
        );
    let floor = if cfg!(feature = "fault-hooks") {
        0
    } else {
        approval::RECOVER_FLOOR_MS
    };
    i64::from(approval::recover_after(configured, db, floor))
}

fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// Approves, executes and verifies one repair of this object's project; the final repair's
/// view. One approval per repair at a time in this object, kept in `inflight` until its outcome
/// is recorded.
pub async fn approve(
    svc: &Services,
    grant: &SystemGrant,
    st: &Storage,
    approving: &Approving,
    a: &Approval,
) -> Fallible<Value> {
    let work = Approve {
        svc,
        grant,
        a,
        pr: RefCell::new(None),
    };
    let of = InflightOf::of(a);
    let after = recover_after(svc);
    inflight::approve(st, approving, &work, &a.repair, &of, now_ms(), after).await
}

struct Approve<'a> {
    svc: &'a Services,
    grant: &'a SystemGrant,
    a: &'a Approval,
    /// The project, once resolved.
    pr: RefCell<Option<ProjectHandle>>,
}

impl ApprovalWork for Approve<'_> {
    type Failure = Fault;
    type View = Value;

    async fn approve(&self, still_ours: &dyn Fn() -> bool) -> Fallible<Fallible<Value>> {
        let (svc, a) = (self.svc, self.a);
        let pr = project(svc, self.grant, &a.org, &a.project)?;
        let m = repo::mappings::get(&pr).await?.map(|(m, _)| m);
        let r = repairs::approve(svc, &pr, a, still_ours).await;
        *self.pr.borrow_mut() = Some(pr);
        Ok(r.map(|r| repairs::view(&r, m.as_ref())))
    }

    async fn unfinished(&self) -> bool {
        let Some(pr) = self.pr.borrow().clone() else {
            return true;
        };
        match repo::repairs::get(&pr, &self.a.repair).await {
            Ok(Some(now)) => matches!(now.status, RepairStatus::Executing | RepairStatus::Executed),
            Ok(None) => false,
            Err(_) => true,
        }
    }

    fn report(&self, e: &Fault) {
        if e.is_transient() {
            console_error!(
                "{}",
                json!({"repair": self.a.repair, "error": e.code(), "detail": e.detail()})
            );
        }
    }
}

/// Finishes the approvals cut short.
pub async fn recover(
    svc: &Services,
    grant: &SystemGrant,
    st: &Storage,
    approving: &Approving,
) -> Fallible<()> {
    let after = recover_after(svc);
    inflight::recover(st, approving, &Recover { svc, grant }, now_ms(), after).await
}

struct Recover<'a> {
    svc: &'a Services,
    grant: &'a SystemGrant,
}

impl RecoverWork<InflightOf> for Recover<'_> {
    type Failure = Fault;

    async fn recover(&self, f: &Inflight<InflightOf>) -> Fallible<()> {
        let env = Environment::parse(&f.of.environment)
            .ok_or_else(|| Fault::internal("inflight without an environment"))?;
        let pr = project(self.svc, self.grant, &f.of.org, &f.of.project)?;
        repairs::recover(self.svc, &pr, &f.repair, env).await
    }

    fn report(&self, repair: &str, e: &Fault) {
        console_error!(
            "{}",
            json!({"recover_repair": repair, "error": e.code(), "detail": e.detail()})
        );
    }
}

/// Approves the project's pending grants automatically, a few per alarm, when the project says
/// so (`auto_approve_grants`).
pub async fn auto_step(
    svc: &Services,
    grant: &SystemGrant,
    st: &Storage,
    approving: &Approving,
) -> Fallible<()> {
    let Some(target) = st.auto_target()? else {
        return Ok(());
    };
    let work = Auto {
        svc,
        grant,
        st,
        approving,
        target: &target,
    };
    auto_approve::tick(st, &work).await
}

struct Auto<'a> {
    svc: &'a Services,
    grant: &'a SystemGrant,
    st: &'a Storage,
    approving: &'a Approving,
    target: &'a Target,
}

impl AutoWork for Auto<'_> {
    type Grant = Approval;
    type Failure = Fault;

    async fn grants(&self) -> Fallible<(Vec<Approval>, bool)> {
        let t = self.target;
        let pr = project(self.svc, self.grant, &t.org, &t.project)?;
        let Some(row) = repo::projects::of_handle(&pr).await? else {
            return Ok((Vec::new(), false));
        };
        if !row.auto_approve_grants {
            return Ok((Vec::new(), false));
        }
        let (grants, more) = repairs::auto_approvable(&pr).await?;
        let approvals = grants
            .into_iter()
            .map(|r| Approval {
                org: t.org.clone(),
                project: t.project.clone(),
                repair: r.id,
                environment: row.environment,
                caller: None,
            })
            .collect();
        Ok((approvals, more))
    }

    async fn approve(&self, a: &Approval) -> Fallible<()> {
        approve(self.svc, self.grant, self.st, self.approving, a)
            .await
            .map(|_| ())
    }

    fn report(&self, a: Option<&Approval>, e: &Fault) {
        match a {
            None => console_error!(
                "{}",
                json!({"auto_approve": self.target.project, "error": e.code(), "detail": e.detail()})
            ),
            Some(a) => console_error!(
                "{}",
                json!({"auto_approve": a.repair, "error": e.code(), "message": e.message()})
            ),
        }
    }
}
