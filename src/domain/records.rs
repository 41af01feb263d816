//! The records the reconcile, webhook and repair engines keep (SPEC §15 field names), and the
//! ports they are stored through, with in-memory fakes. One store instance serves one project
//! (the edge builds it from a `ProjectHandle`), so no method takes a project id. Each method's doc
//! is the contract a D1 implementation must keep; the fakes keep it and the tests below pin it.

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

/// One pending request to check a customer, written with the webhook event that asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub event_id: String,
    pub customer: String,
    pub received_at: Timestamp,
}

/// The webhook outbox of one project.
#[allow(async_fn_in_trait)]
pub trait Outbox {
    /// Records `item` once per event id: `Ok(true)` when new, `Ok(false)` for a duplicate
    /// delivery (nothing changes).
    async fn enqueue(&self, item: &OutboxItem) -> Result<bool, StoreError>;
    /// Pending customers, oldest first, each once however many events name it (coalesced), at
    /// most `limit`, with the event ids a successful check will settle.
    async fn pending(&self, limit: u32) -> Result<Vec<(String, Vec<String>)>, StoreError>;
    /// Marks exactly these events done (after their customer's check succeeded).
    async fn done(&self, event_ids: &[String]) -> Result<(), StoreError>;
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

/// In-memory `Outbox`: (item, done) in arrival order.
#[derive(Default)]
pub struct MemoryOutbox(pub RefCell<Vec<(OutboxItem, bool)>>);

impl Outbox for MemoryOutbox {
    async fn enqueue(&self, item: &OutboxItem) -> Result<bool, StoreError> {
        let mut rows = self.0.borrow_mut();
        if rows.iter().any(|(i, _)| i.event_id == item.event_id) {
            return Ok(false);
        }
        rows.push((item.clone(), false));
        Ok(true)
    }

    async fn pending(&self, limit: u32) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        let mut rows: Vec<&OutboxItem> = Vec::new();
        let all = self.0.borrow();
        rows.extend(all.iter().filter(|(_, done)| !done).map(|(i, _)| i));
        rows.sort_by_key(|i| i.received_at);
        for item in rows {
            if let Some(at) = out.iter().position(|(c, _)| *c == item.customer) {
                out[at].1.push(item.event_id.clone());
            } else if out.len() < limit as usize {
                out.push((item.customer.clone(), vec![item.event_id.clone()]));
            }
        }
        Ok(out)
    }

    async fn done(&self, event_ids: &[String]) -> Result<(), StoreError> {
        for (item, done) in self.0.borrow_mut().iter_mut() {
            if event_ids.contains(&item.event_id) {
                *done = true;
            }
        }
        Ok(())
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

    fn item(event: &str, customer: &str, at: i64) -> OutboxItem {
        OutboxItem {
            event_id: event.into(),
            customer: customer.into(),
            received_at: Timestamp::from_millis(at),
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

    #[tokio::test]
    async fn a_duplicate_delivery_is_recorded_once() {
        let outbox = MemoryOutbox::default();
        assert_eq!(outbox.enqueue(&item("evt_1", "cus_A", 1)).await, Ok(true));
        assert_eq!(outbox.enqueue(&item("evt_1", "cus_A", 2)).await, Ok(false));
        assert_eq!(outbox.0.borrow().len(), 1);
    }

    #[tokio::test]
    async fn pending_events_are_coalesced_per_customer_oldest_first() {
        let outbox = MemoryOutbox::default();
        for (e, c, at) in [
            ("evt_3", "cus_B", 3),
            ("evt_1", "cus_A", 1),
            ("evt_2", "cus_A", 2),
            ("evt_4", "cus_C", 4),
        ] {
            outbox.enqueue(&item(e, c, at)).await.unwrap_or_default();
        }
        assert_eq!(
            outbox.pending(2).await,
            Ok(vec![
                ("cus_A".into(), vec!["evt_1".into(), "evt_2".into()]),
                ("cus_B".into(), vec!["evt_3".into()]),
            ])
        );
    }

    #[tokio::test]
    async fn only_the_settled_events_are_marked_done() {
        let outbox = MemoryOutbox::default();
        outbox
            .enqueue(&item("evt_1", "cus_A", 1))
            .await
            .unwrap_or_default();
        outbox
            .enqueue(&item("evt_2", "cus_A", 2))
            .await
            .unwrap_or_default();
        // evt_2 arrived after the check read its events: it stays pending.
        outbox.done(&["evt_1".into()]).await.unwrap_or_default();
        assert_eq!(
            outbox.pending(10).await,
            Ok(vec![("cus_A".into(), vec!["evt_2".into()])])
        );
    }
}
