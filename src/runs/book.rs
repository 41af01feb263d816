//! The runs of a project in D1 (`domain::records::RunBook`), for both workers: the edge starts
//! runs through it, the coordinator steps and ends them.

use crate::audit::By;
use crate::auth::scope::ProjectHandle;
use crate::repo;
use crate::services::Services;
use parityrail_core::domain::append::Step;
use parityrail_core::domain::audit::{Action, Draft};
use parityrail_core::domain::records::{Counts, Position, Run, RunBook, RunStatus};
use parityrail_core::domain::runs::At;
use parityrail_core::fault::{Fallible, Fault};
use parityrail_core::rows::runs::view;
use serde_json::{json, Value};

/// The runs of one project in D1 (`domain::records::RunBook`): the `runs` row, its audit
/// entries on the project chain, and the hand-over to the project's coordinator.
pub struct D1Runs<'a> {
    pub svc: &'a Services,
    /// Who starts a run (a caller or the cron); the system ends it.
    pub by: By<'a>,
}

impl D1Runs<'_> {
    fn pr(&self) -> &ProjectHandle {
        self.by.project()
    }
}

impl RunBook for D1Runs<'_> {
    type Error = Fault;

    async fn get(&self, id: &str) -> Fallible<Option<(Run, Position)>> {
        repo::runs::get(self.pr(), id).await
    }

    async fn running(&self) -> Fallible<Option<(Run, Position)>> {
        repo::runs::running(self.pr()).await
    }

    async fn create(&self, run: &Run) -> Fallible<()> {
        let draft = Draft::new(
            self.by.actor(),
            Action::RunStarted,
            format!("run:{}", run.id),
            Value::Null,
            view(run),
        );
        self.by
            .retrying(self.svc.now, || async {
                let insert = repo::runs::insert(self.pr(), run)?;
                Ok(Step::commit(vec![draft.clone()], vec![insert], ()))
            })
            .await
    }

    async fn hand_over(&self, id: &str) -> Fallible<()> {
        #[cfg(feature = "edge")]
        return crate::coordinator::client::start_run(self.svc, self.pr(), id).await;
        // Only `start` hands a run over, and only the edge starts runs: the coordinator's
        // worker steps and ends them, and holds no client of itself.
        #[cfg(not(feature = "edge"))]
        Err(Fault::internal(format!(
            "run {id}: only the edge worker hands runs over"
        )))
    }

    async fn advance(
        &self,
        id: &str,
        step: i64,
        next: &At,
        errors: &[String],
        counts: Counts,
    ) -> Fallible<()> {
        let pr = self.pr();
        let advance = repo::runs::advance(pr, id, step, next, errors, counts, self.svc.now)?;
        pr.tenant().batch(vec![advance]).await?;
        Ok(())
    }

    async fn finish(
        &self,
        id: &str,
        status: RunStatus,
        errors: &[String],
        counts: Counts,
    ) -> Fallible<()> {
        let (pr, now) = (self.pr(), self.svc.now);
        let by = system(pr);
        by.retrying(now, || async {
            let Some((current, _)) = repo::runs::get(pr, id).await? else {
                return Ok(Step::Done(()));
            };
            if current.status != RunStatus::Running {
                return Ok(Step::Done(()));
            }
            let mut after = current.clone().counted(counts);
            after.status = status;
            after.errors = errors.to_vec();
            after.finished_at = Some(now);
            let draft = Draft::new(
                by.actor(),
                Action::RunFinished,
                format!("run:{id}"),
                view(&current),
                view(&after),
            );
            let change = repo::runs::finish(pr, id, status, errors, counts, now)?;
            Ok(Step::commit(vec![draft], vec![change], ()))
        })
        .await
    }

    fn report(&self, run: &str, what: &str, e: &Fault) {
        worker::console_error!(
            "{}",
            json!({"run": run, "what": what, "error": e.code(), "detail": e.detail()})
        );
    }
}

/// The job name of what the system does to a run (`system:reconcile`).
pub const SYSTEM_JOB: &str = "reconcile";

pub fn system<'a>(pr: &'a ProjectHandle) -> By<'a> {
    By::System {
        project: pr,
        job: SYSTEM_JOB,
    }
}
