//! The work a coordinator's alarm drives, as the ports of `domain::coordinator`'s engines: a
//! run's step (`crate::runs`), the outbox drain (`crate::webhooks`) and an export's step
//! (`crate::exports`), each for the project named in the coordinator's storage, with the same
//! `Services` the fetch and cron handlers build.

use super::storage::{Current, Facts, Storage, Target};
use crate::auth::grants::SystemGrant;
use crate::auth::scope::ProjectHandle;
use crate::auth::system::{system_project, system_tenant};
use crate::services::Services;
use crate::{exports, repo, runs, webhooks};
use parityrail_core::domain::coordinator::drain::{self, Drainer};
use parityrail_core::domain::coordinator::exports::{self as queue, ExportFailure, ExportWork};
use parityrail_core::domain::coordinator::runs::{self as run, RunWork, StepFailure};
use parityrail_core::domain::exports::Progress;
use parityrail_core::domain::records::Next;
use parityrail_core::fault::{Fallible, Fault};
use serde_json::json;
use worker::console_error;

/// The project `project` of org `org`, for system work.
pub fn project(
    svc: &Services,
    grant: &SystemGrant,
    org: &str,
    project: &str,
) -> Fallible<ProjectHandle> {
    let t = system_tenant(svc, grant, org)?;
    system_project(&t, project, grant)
}

/// One step of the run this object drives, if any.
pub async fn run_step(svc: &Services, grant: &SystemGrant, st: &Storage) -> Fallible<()> {
    let Some(cur) = st.current()? else {
        return Ok(());
    };
    let facts = st.facts();
    let work = RunStep {
        svc,
        grant,
        cur: &cur,
        facts: &facts,
    };
    run::tick(st, &work, &cur.run, cur.failures).await?;
    if st.current()?.is_none() {
        // The run ended: the alerts it held back (one digest for its burst) go out with the
        // project's drain.
        let target = Target {
            org: cur.org.clone(),
            project: cur.project.clone(),
        };
        drain::wake(st, &target, 0).await?;
    }
    Ok(())
}

struct RunStep<'a> {
    svc: &'a Services,
    grant: &'a SystemGrant,
    cur: &'a Current,
    facts: &'a Facts,
}

impl RunWork for RunStep<'_> {
    type Failure = Fault;

    async fn step(&self) -> Result<Next, StepFailure<Fault>> {
        let (svc, cur) = (self.svc, self.cur);
        let pr =
            project(svc, self.grant, &cur.org, &cur.project).map_err(StepFailure::Unreached)?;
        runs::step(svc, &pr, self.facts, &cur.run)
            .await
            .map_err(StepFailure::Failed)
    }

    async fn abandon(&self, message: &str) -> Fallible<()> {
        let pr = project(self.svc, self.grant, &self.cur.org, &self.cur.project)?;
        runs::abandon(self.svc, &pr, &self.cur.run, message).await
    }

    fn report(&self, e: &Fault) {
        console_error!(
            "{}",
            json!({"run": self.cur.run, "error": e.code(), "detail": e.detail()})
        );
    }
}

/// One drain of the outbox, when woken.
pub async fn drain_step(svc: &Services, grant: &SystemGrant, st: &Storage) -> Fallible<()> {
    let Some(target) = st.drain_target()? else {
        return Ok(());
    };
    let d = Drain {
        svc,
        grant,
        target: &target,
    };
    drain::tick(st, &d, svc.now.millis()).await
}

struct Drain<'a> {
    svc: &'a Services,
    grant: &'a SystemGrant,
    target: &'a Target,
}

impl Drainer for Drain<'_> {
    type Failure = Fault;

    async fn drain(&self) -> Fallible<Option<i64>> {
        let pr = project(self.svc, self.grant, &self.target.org, &self.target.project)?;
        let due = webhooks::drain(self.svc, &pr).await?;
        Ok(due.map(|t| t.millis()))
    }

    fn report(&self, e: &Fault) {
        console_error!(
            "{}",
            json!({"drain": self.target.project, "error": e.code(), "detail": e.detail()})
        );
    }
}

/// One step of the export due first, if any.
pub async fn export_step(svc: &Services, grant: &SystemGrant, st: &Storage) -> Fallible<()> {
    let now = worker::Date::now().as_millis() as i64;
    queue::tick(st, &Export { svc, grant }, now).await
}

struct Export<'a> {
    svc: &'a Services,
    grant: &'a SystemGrant,
}

/// An export step's failure, as the export engine reads it.
struct ExportFault(Fault);

impl ExportFailure for ExportFault {
    /// A chain that does not verify will not verify on a retry.
    fn permanent(&self) -> bool {
        matches!(self.0, Fault::ChainNotIntact(_))
    }

    fn message(&self) -> String {
        self.0.message()
    }
}

impl ExportWork<Progress, Target> for Export<'_> {
    type Failure = ExportFault;

    async fn step(
        &self,
        id: &str,
        t: &Target,
        progress: &mut Progress,
    ) -> Result<queue::Stepped, ExportFault> {
        let pr = project(self.svc, self.grant, &t.org, &t.project).map_err(ExportFault)?;
        match exports::step(self.svc, &pr, id, progress).await {
            Ok(exports::Next::More) => Ok(queue::Stepped::More),
            Ok(exports::Next::Done) => Ok(queue::Stepped::Done),
            Err(e) => Err(ExportFault(e)),
        }
    }

    /// Ended once D1 no longer says `running` (or the project is gone): audited if it can be,
    /// else failed without its audit entry (logged).
    async fn end(&self, id: &str, t: &Target, why: &str) -> bool {
        let Ok(pr) = project(self.svc, self.grant, &t.org, &t.project) else {
            return true;
        };
        if exports::end(self.svc, &pr, id, Err(why)).await.is_ok() {
            return true;
        }
        let at = self.svc.now.to_rfc3339();
        match repo::exports::fail_unread(&pr, id, why, &at).await {
            Ok(()) => {
                console_error!("{}", json!({"export": id, "ended_unaudited": why}));
                true
            }
            Err(f) => {
                console_error!(
                    "{}",
                    json!({"export": id, "error": f.code(), "detail": f.detail()})
                );
                false
            }
        }
    }

    fn report(&self, id: &str, e: &ExportFault) {
        console_error!(
            "{}",
            json!({"export": id, "error": e.0.code(), "detail": e.0.detail()})
        );
    }
}
