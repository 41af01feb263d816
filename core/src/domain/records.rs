//! A reconcile run's record (SPEC §15) and its lifecycle over one port, `RunBook` (the D1
//! `runs` row, its audit entries and the hand-over to the project's coordinator at the edge),
//! tested here with an in-memory fake:
//! - `start`: one running run per project; a second start answers the running run's id, and
//!   hands a run that recorded no step for `STALE_MS` to its coordinator again;
//! - `step`: one step's work (`domain::runs::advance` at the edge) recorded as the next position
//!   and counts, guarded by the step number; the run's end recorded once; a failure of Stripe,
//!   the database or the configuration ends the run `failed` with the error in words, while
//!   ParityRail's own failure leaves it where it stood for the step to be tried again.

use super::runs::{At, Phase};
use super::time::Timestamp;
use serde::{Deserialize, Serialize};
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

/// Where a running run stands: the steps it has recorded, and the phase and cursor of the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub step: i64,
    pub phase: Phase,
    pub cursor: Option<String>,
    /// When the run last recorded a step (or started).
    pub updated_at: Timestamp,
}

/// What one step adds to a run's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub customers_checked: u64,
    pub incidents_opened: u64,
    pub incidents_resolved: u64,
    pub stripe_requests: u64,
    pub db_round_trips: u64,
}

impl Run {
    /// A new run of `trigger` started at `now`.
    pub fn new(id: String, trigger: RunTrigger, now: Timestamp) -> Run {
        Run {
            id,
            status: RunStatus::Running,
            trigger,
            customers_checked: 0,
            incidents_opened: 0,
            incidents_resolved: 0,
            stripe_requests: 0,
            db_round_trips: 0,
            errors: Vec::new(),
            started_at: now,
            finished_at: None,
        }
    }

    /// This run with `c` added to its counts.
    pub fn counted(mut self, c: Counts) -> Run {
        self.customers_checked += c.customers_checked;
        self.incidents_opened += c.incidents_opened;
        self.incidents_resolved += c.incidents_resolved;
        self.stripe_requests += c.stripe_requests;
        self.db_round_trips += c.db_round_trips;
        self
    }
}

/// A running run that recorded no step for this long is handed to its coordinator again.
pub const STALE_MS: i64 = 10 * 60 * 1000;

/// At most this many errors are kept on a run (the first ones).
pub const MAX_ERRORS: usize = 20;

/// What the lifecycle needs to know of the port's errors.
pub trait RunFailure: From<InProgress> {
    /// Another run of the project is running (the store refused a second).
    fn in_progress(&self) -> bool;
    /// ParityRail's own failure (its store, its vault): the same step may be tried again.
    /// Anything else (Stripe, the customer's database, the configuration) ends the run.
    fn is_ours(&self) -> bool;
    /// The stable code, and the words a run's `errors` records.
    fn code(&self) -> String;
    fn message(&self) -> String;
}

/// Another run of the project is running: its id, when it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InProgress(pub Option<String>);

/// The runs of one project.
#[allow(async_fn_in_trait)]
pub trait RunBook {
    type Error: RunFailure;
    /// The run and where it stands, if the project has it.
    async fn get(&self, id: &str) -> Result<Option<(Run, Position)>, Self::Error>;
    /// The project's running run, if any.
    async fn running(&self) -> Result<Option<(Run, Position)>, Self::Error>;
    /// Records `run` as started (audited `run.started`): an error that is `in_progress` while
    /// another run of the project is running, and then nothing is recorded.
    async fn create(&self, run: &Run) -> Result<(), Self::Error>;
    /// Hands the run to the project's coordinator, which steps it.
    async fn hand_over(&self, id: &str) -> Result<(), Self::Error>;
    /// Records step `step` as done: the run stands at `next`, its errors become `errors` (the
    /// whole list) and `counts` are added.
    /// Nothing changes when step `step` was recorded already or the run is no longer running.
    async fn advance(
        &self,
        id: &str,
        step: i64,
        next: &At,
        errors: &[String],
        counts: Counts,
    ) -> Result<(), Self::Error>;
    /// Ends the run `status`, its errors becoming `errors` (the whole list) and `counts` added,
    /// audited `run.finished` from the run as it is then; nothing when it is gone or no longer
    /// running.
    async fn finish(
        &self,
        id: &str,
        status: RunStatus,
        errors: &[String],
        counts: Counts,
    ) -> Result<(), Self::Error>;
    /// Reports a failure nothing else will (for the log).
    fn report(&self, run: &str, what: &str, e: &Self::Error);
}

/// Starts `run` (built by `Run::new`) at `now` and hands it over. While another run is going:
/// `InProgress` with its id, after handing it over again when it has recorded nothing for
/// `STALE_MS` (its coordinator was lost). A run that could not be handed over ends `failed`.
pub async fn start<B: RunBook>(book: &B, run: &Run, now: Timestamp) -> Result<(), B::Error> {
    if let Err(e) = book.create(run).await {
        if !e.in_progress() {
            return Err(e);
        }
        let Some((going, pos)) = book.running().await? else {
            // It ended meanwhile: still refused (the caller may start again).
            return Err(e);
        };
        if now.millis() - pos.updated_at.millis() > STALE_MS {
            // Its position is in the store, so it goes on where it stood.
            if let Err(h) = book.hand_over(&going.id).await {
                book.report(&going.id, "resume", &h);
            }
        }
        return Err(InProgress(Some(going.id)).into());
    }
    if let Err(e) = book.hand_over(&run.id).await {
        let why = ["the run could not be handed to the project's coordinator".to_owned()];
        let failed = book
            .finish(&run.id, RunStatus::Failed, &why, Counts::default())
            .await;
        if let Err(f) = failed {
            book.report(&run.id, "finish", &f);
        }
        return Err(e);
    }
    Ok(())
}

/// What one step's work did: where the run stands next (`None`: it is done), what it counted,
/// and notes for the run's `errors`.
#[derive(Debug, Clone, Default)]
pub struct Stepped {
    pub next: Option<At>,
    pub counts: Counts,
    pub notes: Vec<String>,
}

/// What the coordinator does after a step.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Schedule the next step.
    More,
    /// The run is over (finished now, earlier, or gone): forget it.
    Stop,
}

/// One step of run `id`: `work` does it from the run and its position, and what it did is
/// recorded. A run that is gone or over is not stepped. A failure of the work that is not ours
/// ends the run `failed` with `"{code} during {phase}: {message}"` (what the steps before it
/// recorded stays; the first `MAX_ERRORS - 1` errors are kept before it); ours, and any failure
/// to record the step, is answered as an error, the run left where it stood for the step to be
/// tried again.
pub async fn step<B, W, Fut>(book: &B, id: &str, work: W) -> Result<Next, B::Error>
where
    B: RunBook,
    W: FnOnce(Run, Position) -> Fut,
    Fut: std::future::Future<Output = Result<Stepped, B::Error>>,
{
    let Some((run, pos)) = book.get(id).await? else {
        return Ok(Next::Stop);
    };
    if run.status != RunStatus::Running {
        return Ok(Next::Stop);
    }
    let (step, phase, mut errors) = (pos.step, pos.phase, run.errors.clone());
    match work(run, pos).await {
        Ok(done) => {
            errors.extend(done.notes);
            errors.truncate(MAX_ERRORS);
            match done.next {
                Some(next) => {
                    book.advance(id, step, &next, &errors, done.counts).await?;
                    Ok(Next::More)
                }
                None => {
                    let ok = RunStatus::Succeeded;
                    book.finish(id, ok, &errors, done.counts).await?;
                    Ok(Next::Stop)
                }
            }
        }
        Err(e) if e.is_ours() => Err(e),
        Err(e) => {
            errors.truncate(MAX_ERRORS - 1);
            errors.push(format!(
                "{} during {}: {}",
                e.code(),
                phase.as_str(),
                e.message()
            ));
            let failed = RunStatus::Failed;
            book.finish(id, failed, &errors, Counts::default()).await?;
            Ok(Next::Stop)
        }
    }
}

/// Ends run `id` `failed` with `message` added to its errors (its coordinator gave up on it);
/// nothing when it is gone or over.
pub async fn abandon<B: RunBook>(book: &B, id: &str, message: &str) -> Result<(), B::Error> {
    let Some((run, _)) = book.get(id).await? else {
        return Ok(());
    };
    let mut errors = run.errors;
    errors.truncate(MAX_ERRORS - 1);
    errors.push(message.to_owned());
    book.finish(id, RunStatus::Failed, &errors, Counts::default())
        .await
}

#[cfg(test)]
mod tests;
