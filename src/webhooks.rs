//! Stripe webhooks at the edge (SPEC §7): recording a verified delivery durably before it is
//! acknowledged (the handler then wakes the project's coordinator through
//! `coordinator::client`), and the coordinator's drain of the outbox
//! (every pending row of one customer answered by one check, a row done only when its check
//! succeeded). Events are hints: the drain re-reads the customer from Stripe and the app, so an
//! out-of-order or stale event cannot regress anything.

use super::audit::By;
use super::auth::scope::{BatchError, ProjectHandle};
use super::coordinator::client;
use super::reconcile::check_customers;
use super::repo::{self, webhooks::Source};
use super::services::Services;
use parityrail_core::domain::apikey::Environment;
use parityrail_core::domain::ids::OutboxId;
use parityrail_core::domain::outbox::{self, Checker, OutboxStore, PendingRow};
use parityrail_core::domain::time::Timestamp;
use parityrail_core::domain::webhook::{triggers_check, EventFacts};
use parityrail_core::fault::{Fallible, Fault};
use std::collections::{BTreeMap, BTreeSet};

/// Customers one drain checks at most (each is one Stripe re-read and one app-row read).
pub const CUSTOMERS_PER_DRAIN: usize = 25;

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

/// The project's outbox rows in D1, as the drain's store.
struct D1Outbox<'a>(&'a ProjectHandle);

impl OutboxStore for D1Outbox<'_> {
    type Error = Fault;

    async fn due(&self, now: Timestamp, limit: u32) -> Fallible<Vec<PendingRow>> {
        repo::webhooks::due(self.0, now, limit).await
    }

    async fn pending_of(&self, customer: &str) -> Fallible<Vec<PendingRow>> {
        repo::webhooks::pending_of(self.0, customer).await
    }

    async fn done(&self, rows: &[PendingRow], now: Timestamp) -> Fallible<()> {
        let stmts = rows
            .iter()
            .map(|r| repo::webhooks::done(self.0, &r.id, now))
            .collect::<Fallible<Vec<_>>>()?;
        if !stmts.is_empty() {
            self.0.tenant().batch(stmts).await?;
        }
        Ok(())
    }

    async fn retry_later(&self, customer: &str, code: &str, at: Timestamp) -> Fallible<()> {
        let stmt = repo::webhooks::retry_customer_later(self.0, customer, code, at)?;
        self.0.tenant().batch(vec![stmt]).await?;
        Ok(())
    }

    async fn next_due(&self) -> Fallible<Option<Timestamp>> {
        repo::webhooks::next_due(self.0).await
    }
}

/// The check the drain asks for: Stripe and the app re-read, incidents audited as
/// `system:webhook`.
struct Checks<'a> {
    svc: &'a Services,
    by: By<'a>,
    env: Environment,
}

impl Checker for Checks<'_> {
    type Error = Fault;

    async fn check(&self, customers: &[String]) -> Fallible<BTreeMap<String, Fallible<()>>> {
        check_customers(self.svc, self.by, self.env, customers).await
    }
}

/// One drain (`domain::outbox::drain`): up to `CUSTOMERS_PER_DRAIN` customers with due rows,
/// each checked once; the rows read before its check are done when it succeeds, and retried
/// later with backoff when it fails (Stripe or the database down). Returns when the outbox next
/// has something due, if ever.
pub async fn drain(svc: &Services, pr: &ProjectHandle) -> Fallible<Option<Timestamp>> {
    let Some(project) = repo::projects::of_handle(pr).await? else {
        // Deleted (a delivery verified just before may have added rows since): nothing is
        // left to check, and nothing must wake this coordinator again.
        pr.tenant()
            .batch(repo::webhooks::delete_project(pr)?)
            .await?;
        return Ok(None);
    };
    let checks = Checks {
        svc,
        by: By::System {
            project: pr,
            job: "webhook",
        },
        env: project.environment,
    };
    let d = outbox::drain(&D1Outbox(pr), &checks, svc.now, CUSTOMERS_PER_DRAIN).await?;
    if d.checked == 0 {
        // Nothing was due: no credential was opened, no database reached.
        return Ok(d.next_due);
    }
    for (customer, e) in &d.failed {
        worker::console_error!(
            "{}",
            serde_json::json!({"job": "webhook", "project": pr.as_str(), "customer": customer, "error": e.code(), "detail": e.detail()})
        );
    }
    worker::console_log!(
        "{}",
        serde_json::json!({"drain": pr.as_str(), "customers": d.checked})
    );
    Ok(d.next_due)
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

/// Stripe keeps events for 30 days: a gap older than that cannot be read back.
const EVENTS_KEPT_SECS: i64 = 30 * 86_400;
/// Pages of events one recovery reads at most; a longer walk goes on from where it stopped at
/// the next tick (its bounds and position are saved).
const RECOVERY_PAGES: u32 = 50;
/// Each walk starts this far before the end of the last one: Stripe can list an event a little
/// after its `created` time. Events seen twice are recognised by id.
const OVERLAP_SECS: i64 = 300;

/// What one recovery did.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Events recorded now that no webhook had delivered.
    pub events: u32,
    /// The gap was older than Stripe keeps: a full run was started instead.
    pub unrecoverable: bool,
}

/// Where a project's Events API walk stands (kept in the job state as JSON).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Walk {
    /// Events created at or after this (unix seconds) are looked at.
    since: i64,
    /// The walk in progress: its upper bound and the last event id it passed.
    upto: Option<i64>,
    after: Option<String>,
}

/// Dropped deliveries (SPEC §7): walks Stripe's Events API over `[since, upto]` (paged, about
/// 20 requests/s at most), recording every access-relevant event no webhook delivered, with its
/// outbox row (source `events_api`), then wakes the drain. Its own position decides where it
/// looks, never the events webhooks delivered (a later delivery must not hide an earlier
/// dropped one). A walk longer than `RECOVERY_PAGES` goes on from its saved position at the
/// next tick; a finished walk moves `since` to its end less `OVERLAP_SECS`. A project seen for
/// the first time starts an hour back (a full run covers the past); a position older than
/// Stripe's 30 days is an unrecoverable gap: logged, answered by a full run, and the walk
/// starts again from now.
pub async fn recover(
    svc: &Services,
    pr: &ProjectHandle,
    grant: &super::auth::SystemGrant,
) -> Fallible<Recovered> {
    use super::auth::{job_cursor, save_job_cursor};
    let job = format!("events:{}", pr.as_str());
    let now = svc.now.millis() / 1000;
    let saved = job_cursor(svc, grant, &job).await?;
    let mut walk: Walk = serde_json::from_str(&saved).unwrap_or(Walk {
        // A position saved as a bare number (before walks kept their bounds) is still `since`.
        since: saved.parse::<i64>().unwrap_or(now - 3600),
        upto: None,
        after: None,
    });
    let mut out = Recovered::default();
    if now - walk.since > EVENTS_KEPT_SECS {
        out.unrecoverable = true;
        worker::console_error!(
            "{}",
            serde_json::json!({"job": "events", "project": pr.as_str(), "unrecoverable_gap_secs": now - walk.since})
        );
        pr.tenant()
            .batch(vec![repo::webhooks::record_gap(pr, walk.since, svc.now)?])
            .await?;
        let by = By::System {
            project: pr,
            job: "cron",
        };
        match super::runs::start(svc, by, parityrail_core::domain::records::RunTrigger::Cron).await
        {
            Ok(_) => {}
            Err(e) if super::runs::not_now(&e) => {}
            Err(e) => return Err(e),
        }
        walk = Walk {
            since: now - OVERLAP_SECS,
            upto: None,
            after: None,
        };
        // Saved before anything else can fail: the gap is reported, and its run started, once.
        let reset = serde_json::to_string(&walk).map_err(|e| Fault::internal(e.to_string()))?;
        save_job_cursor(svc, grant, &job, &reset).await?;
    }
    let upto = *walk.upto.get_or_insert(now);
    let client = super::project_io::stripe(svc, pr).await?;
    let mut finished = false;
    for page_no in 0..RECOVERY_PAGES {
        if page_no > 0 {
            // Stripe allows about 25 requests/s per endpoint.
            worker::Delay::from(std::time::Duration::from_millis(50)).await;
        }
        let page = match client
            .events_page(walk.since, upto, walk.after.as_deref())
            .await
        {
            Ok(page) => page,
            // The saved position names an event Stripe no longer has (another account's key,
            // say): walk the same window again from its start; events seen twice are skipped.
            Err(parityrail_core::stripe::StripeError::Client(404)) if walk.after.is_some() => {
                walk.after = None;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let relevant: Vec<EventFacts> = page
            .data
            .iter()
            .filter_map(|e| parityrail_core::domain::webhook::facts_of(&e.to_value()))
            .filter(|f| triggers_check(&f.kind) && f.customer.is_some())
            .collect();
        // One query for the page: only the events no delivery recorded cost a write.
        let ids: Vec<&str> = relevant.iter().map(|f| f.id.as_str()).collect();
        let known = repo::webhooks::known_among(pr, &ids).await?;
        out.events += record_page(svc, pr, &relevant, &known).await?;
        match page.next {
            // A cursor that does not move would walk forever: the list is treated as ended.
            Some(next) if walk.after.as_deref() != Some(next.as_str()) => walk.after = Some(next),
            _ => {
                finished = true;
                break;
            }
        }
    }
    if finished {
        walk = Walk {
            since: (upto - OVERLAP_SECS).max(walk.since),
            upto: None,
            after: None,
        };
    }
    let saved = serde_json::to_string(&walk).map_err(|e| Fault::internal(e.to_string()))?;
    save_job_cursor(svc, grant, &job, &saved).await?;
    if out.events > 0 {
        client::wake_outbox(svc, pr).await?;
    }
    Ok(out)
}
