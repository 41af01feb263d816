//! Webhook events at the edge: a delivery recorded with its outbox row, and the cron's Events API
//! walk of the deliveries Stripe dropped.

use crate::audit::By;
use crate::auth::grants::SystemGrant;
use crate::auth::scope::{BatchError, ProjectHandle};
use crate::auth::system::{job_cursor, save_job_cursor};
use crate::connectors::WorkerHttp;
use crate::coordinator::client;
use crate::repo::{self, webhooks::Source};
use crate::services::Services;
use crate::{project_io, runs};
pub use parityrail_core::domain::events::Recovered;
use parityrail_core::domain::events::{self, EventsApi, EventsPage, PageError};
use parityrail_core::domain::ids::OutboxId;
use parityrail_core::domain::records::RunTrigger;
use parityrail_core::domain::webhook::{triggers_check, EventFacts};
use parityrail_core::fault::{Fallible, Fault};
use parityrail_core::stripe::{StripeClient, StripeError};
use std::collections::BTreeSet;

/// What recording an event did.
#[derive(Debug, PartialEq, Eq)]
pub enum Recorded {
    /// New; `true` when it asked for a check.
    New(bool),
    /// Recorded before (a duplicate delivery, or found through the Events API first).
    Duplicate,
}

/// Records `e` once (by its id) with, when it can change access, an outbox row asking for a
/// check of its customer, in one D1 batch.
pub async fn record(
    svc: &Services,
    pr: &ProjectHandle,
    e: &EventFacts,
    source: Source,
) -> Fallible<Recorded> {
    let check = triggers_check(&e.kind) && e.customer.is_some();
    let outbox = if check {
        Some(OutboxId::generate(&mut svc.rng())?.to_string())
    } else {
        None
    };
    let stmts = repo::webhooks::record(pr, e, source, outbox.as_deref(), svc.now)?;
    match pr.tenant().batch(stmts).await {
        Ok(_) => Ok(Recorded::New(check)),
        Err(BatchError::D1(f))
            if f.is_unique_on("webhook_events.project_id, webhook_events.event_id") =>
        {
            Ok(Recorded::Duplicate)
        }
        Err(e) => Err(e.into()),
    }
}

/// Records the events of one Events API page no delivery recorded, in one D1 batch (each with
/// its outbox row). When a delivery recorded one of them meanwhile, the batch is refused
/// whole and they are recorded one by one instead. Returns how many were new.
async fn record_page(
    svc: &Services,
    pr: &ProjectHandle,
    relevant: &[EventFacts],
    known: &BTreeSet<String>,
) -> Fallible<u32> {
    let fresh: Vec<&EventFacts> = relevant.iter().filter(|f| !known.contains(&f.id)).collect();
    if fresh.is_empty() {
        return Ok(0);
    }
    let mut stmts = Vec::new();
    for facts in &fresh {
        let outbox = OutboxId::generate(&mut svc.rng())?.to_string();
        stmts.extend(repo::webhooks::record(
            pr,
            facts,
            Source::EventsApi,
            Some(&outbox),
            svc.now,
        )?);
    }
    match pr.tenant().batch(stmts).await {
        Ok(_) => Ok(fresh.len() as u32),
        Err(BatchError::D1(f))
            if f.is_unique_on("webhook_events.project_id, webhook_events.event_id") =>
        {
            let mut n = 0;
            for facts in fresh {
                if let Recorded::New(_) = record(svc, pr, facts, Source::EventsApi).await? {
                    n += 1;
                }
            }
            Ok(n)
        }
        Err(e) => Err(e.into()),
    }
}

/// Dropped deliveries (SPEC §7): `domain::events::recover` over the project's job position,
/// Stripe's Events API (about 20 requests/s at most) and D1, recording every access-relevant
/// event no webhook delivered with its outbox row (source `events_api`), then waking the drain.
/// An unrecoverable gap is logged, recorded, and answered by a full run.
pub async fn recover(
    svc: &Services,
    pr: &ProjectHandle,
    grant: &SystemGrant,
) -> Fallible<Recovered> {
    let api = D1Events {
        svc,
        pr,
        grant,
        job: format!("events:{}", pr.as_str()),
    };
    events::recover(&api, svc.now.millis() / 1000).await
}

/// The Events API walk of one project at the edge.
struct D1Events<'a> {
    svc: &'a Services,
    pr: &'a ProjectHandle,
    grant: &'a SystemGrant,
    job: String,
}

impl EventsApi for D1Events<'_> {
    type Error = Fault;
    type Client = StripeClient<WorkerHttp>;
    /// The page's events that ask for a check of a customer.
    type Page = Vec<EventFacts>;

    async fn position(&self) -> Fallible<String> {
        job_cursor(self.svc, self.grant, &self.job).await
    }

    async fn save(&self, position: &str) -> Fallible<()> {
        save_job_cursor(self.svc, self.grant, &self.job, position).await
    }

    async fn gap(&self, since: i64, gap_secs: i64) -> Fallible<()> {
        let (svc, pr) = (self.svc, self.pr);
        worker::console_error!(
            "{}",
            serde_json::json!({"job": "events", "project": pr.as_str(), "unrecoverable_gap_secs": gap_secs})
        );
        pr.tenant()
            .batch(vec![repo::webhooks::record_gap(pr, since, svc.now)?])
            .await?;
        let by = By::System {
            project: pr,
            job: "cron",
        };
        match runs::start(svc, by, RunTrigger::Cron).await {
            Ok(_) => Ok(()),
            Err(e) if runs::not_now(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn client(&self) -> Fallible<StripeClient<WorkerHttp>> {
        project_io::stripe(self.svc, self.pr).await
    }

    async fn page(
        &self,
        client: &StripeClient<WorkerHttp>,
        since: i64,
        upto: i64,
        after: Option<&str>,
    ) -> Result<EventsPage<Vec<EventFacts>>, PageError<Fault>> {
        let page = client
            .events_page(since, upto, after)
            .await
            .map_err(|e| match e {
                StripeError::Client(404) => PageError::Gone(e.into()),
                e => PageError::Failed(e.into()),
            })?;
        let relevant = page
            .data
            .iter()
            .filter_map(|e| parityrail_core::domain::webhook::facts_of(&e.to_value()))
            .filter(|f| triggers_check(&f.kind) && f.customer.is_some())
            .collect();
        Ok(EventsPage {
            events: relevant,
            next: page.next,
        })
    }

    async fn record(&self, relevant: &Vec<EventFacts>) -> Fallible<u32> {
        // One query for the page: only the events no delivery recorded cost a write.
        let ids: Vec<&str> = relevant.iter().map(|f| f.id.as_str()).collect();
        let known = repo::webhooks::known_among(self.pr, &ids).await?;
        record_page(self.svc, self.pr, relevant, &known).await
    }

    async fn pause(&self) {
        // Stripe allows about 25 requests/s per endpoint.
        worker::Delay::from(std::time::Duration::from_millis(50)).await;
    }

    async fn wake(&self) -> Fallible<()> {
        client::wake_outbox(self.svc, self.pr).await
    }
}
