//! A reconcile run as SPEC §15 names its fields, and `RunStore`, the contract a store of runs
//! keeps, with an in-memory fake that pins it. The edge keeps runs in D1 through `repo::runs`
//! (one running run per project by a partial unique index) and does not implement this port
//! yet; the webhook outbox's port and drain are `domain::outbox`.

use super::store::StoreError;
use super::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    Api,
    Cron,
    Webhook,
}

/// A reconcile run (SPEC §15).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    pub status: RunStatus,
    pub trigger: RunTrigger,
    pub customers_checked: u64,
    pub incidents_opened: u64,
    pub incidents_resolved: u64,
    pub stripe_requests: u64,
    pub db_round_trips: u64,
    pub errors: Vec<String>,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// Runs of one project.
#[allow(async_fn_in_trait)]
pub trait RunStore {
    /// Starts `run` (status `running`) unless another run of the project is running: then
    /// `Err(Duplicate(id of the running run))` and nothing is stored.
    async fn start(&self, run: &Run) -> Result<(), StoreError>;
    /// Replaces a stored run (progress, counts, the final status).
    async fn save(&self, run: &Run) -> Result<(), StoreError>;
    async fn get(&self, id: &str) -> Result<Option<Run>, StoreError>;
    /// The run with status `running`, if any.
    async fn running(&self) -> Result<Option<Run>, StoreError>;
}

/// In-memory `RunStore`.
#[derive(Default)]
pub struct MemoryRuns(pub RefCell<BTreeMap<String, Run>>);

impl RunStore for MemoryRuns {
    async fn start(&self, run: &Run) -> Result<(), StoreError> {
        if let Some(r) = self.running().await? {
            return Err(StoreError::Duplicate(r.id));
        }
        self.0.borrow_mut().insert(run.id.clone(), run.clone());
        Ok(())
    }

    async fn save(&self, run: &Run) -> Result<(), StoreError> {
        match self.0.borrow_mut().get_mut(&run.id) {
            Some(r) => {
                *r = run.clone();
                Ok(())
            }
            None => Err(StoreError::Failed(format!("no run {}", run.id))),
        }
    }

    async fn get(&self, id: &str) -> Result<Option<Run>, StoreError> {
        Ok(self.0.borrow().get(id).cloned())
    }

    async fn running(&self) -> Result<Option<Run>, StoreError> {
        Ok(self
            .0
            .borrow()
            .values()
            .find(|r| r.status == RunStatus::Running)
            .cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, status: RunStatus) -> Run {
        Run {
            id: id.into(),
            status,
            trigger: RunTrigger::Api,
            customers_checked: 0,
            incidents_opened: 0,
            incidents_resolved: 0,
            stripe_requests: 0,
            db_round_trips: 0,
            errors: vec![],
            started_at: Timestamp::from_millis(0),
            finished_at: None,
        }
    }

    #[tokio::test]
    async fn only_one_run_of_a_project_runs_at_a_time() {
        let runs = MemoryRuns::default();
        assert_eq!(runs.start(&run("run_1", RunStatus::Running)).await, Ok(()));
        assert_eq!(
            runs.start(&run("run_2", RunStatus::Running)).await,
            Err(StoreError::Duplicate("run_1".into()))
        );
        assert_eq!(runs.get("run_2").await, Ok(None));
        let mut done = run("run_1", RunStatus::Succeeded);
        done.customers_checked = 120;
        runs.save(&done).await.unwrap_or_default();
        assert_eq!(runs.running().await, Ok(None));
        assert_eq!(runs.start(&run("run_2", RunStatus::Running)).await, Ok(()));
        assert_eq!(
            runs.get("run_1")
                .await
                .ok()
                .flatten()
                .map(|r| r.customers_checked),
            Some(120)
        );
    }
}
