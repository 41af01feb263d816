//! The recovery of dropped webhook deliveries of one project through Stripe's Events API
//! (SPEC §7), as an engine over the `EventsApi` port (the job position in D1, Stripe's events
//! list, the recording of events with their outbox rows, the coordinator's wake at the edge).
//!
//! The walk's own position (`Walk`) decides where it looks, never the events webhooks delivered
//! (a later delivery must not hide an earlier dropped one): it walks `[since, upto]` page by
//! page (a pause between pages), at most `RECOVERY_PAGES` a tick, going on from its saved
//! position at the next; a finished walk moves `since` to its end less `OVERLAP_SECS` (Stripe
//! can list an event a little after its `created` time; events seen twice are recognised by
//! id). A project seen for the first time starts `FIRST_LOOK_SECS` back (a full run covers the
//! past); a position older than Stripe keeps events (`EVENTS_KEPT_SECS`) is an unrecoverable
//! gap: reported (a full run answers it) and the walk starts again from now, saved before
//! anything else can fail so the gap is reported once. A saved cursor Stripe no longer knows
//! walks the same window again from its start; a cursor that does not move ends the list.

use serde::{Deserialize, Serialize};

/// Stripe keeps events for 30 days: a gap older than that cannot be read back.
pub const EVENTS_KEPT_SECS: i64 = 30 * 86_400;
/// Pages of events one recovery reads at most.
pub const RECOVERY_PAGES: u32 = 50;
/// Each walk starts this far before the end of the last one.
pub const OVERLAP_SECS: i64 = 300;
/// How far back a project seen for the first time looks.
pub const FIRST_LOOK_SECS: i64 = 3_600;

/// Where a project's walk stands (saved as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Walk {
    /// Events created at or after this (unix seconds) are looked at.
    pub since: i64,
    /// The walk in progress: its upper bound and the last event id it passed.
    pub upto: Option<i64>,
    pub after: Option<String>,
}

impl Walk {
    /// The walk saved as `saved` at `now` (unix seconds): its JSON, a bare number (a position
    /// saved before walks kept their bounds) as `since`, else a first look.
    pub fn load(saved: &str, now: i64) -> Walk {
        serde_json::from_str(saved).unwrap_or(Walk {
            since: saved.parse::<i64>().unwrap_or(now - FIRST_LOOK_SECS),
            upto: None,
            after: None,
        })
    }

    /// What is saved.
    pub fn saved(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether it starts further back than Stripe keeps events.
    pub fn is_gap(&self, now: i64) -> bool {
        now - self.since > EVENTS_KEPT_SECS
    }

    fn from(since: i64) -> Walk {
        Walk {
            since,
            upto: None,
            after: None,
        }
    }
}

/// What one recovery did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Events recorded now that no webhook had delivered.
    pub events: u32,
    /// The gap was older than Stripe keeps: a full run answers it.
    pub unrecoverable: bool,
}

/// One page of events: what it holds (`P`) and the cursor of the next, if the list goes on.
pub struct EventsPage<P> {
    pub events: P,
    pub next: Option<String>,
}

/// Why a page was not read.
#[derive(Debug)]
pub enum PageError<E> {
    /// Stripe does not know the cursor (`404`).
    Gone(E),
    Failed(E),
}

/// What a recovery reads and writes.
#[allow(async_fn_in_trait)]
pub trait EventsApi {
    type Error;
    type Client;
    type Page;
    /// The saved position ("" if none).
    async fn position(&self) -> Result<String, Self::Error>;
    async fn save(&self, position: &str) -> Result<(), Self::Error>;
    /// Reports an unrecoverable gap since `since` (`gap_secs` long) and answers it (a full run).
    async fn gap(&self, since: i64, gap_secs: i64) -> Result<(), Self::Error>;
    /// The project's Stripe client.
    async fn client(&self) -> Result<Self::Client, Self::Error>;
    /// The page of events created in `[since, upto]` after `after`.
    async fn page(
        &self,
        client: &Self::Client,
        since: i64,
        upto: i64,
        after: Option<&str>,
    ) -> Result<EventsPage<Self::Page>, PageError<Self::Error>>;
    /// Records the page's access-relevant events no delivery recorded; how many were new.
    async fn record(&self, page: &Self::Page) -> Result<u32, Self::Error>;
    /// The pause between two pages (Stripe's rate limit).
    async fn pause(&self);
    /// Wakes the project's outbox drain.
    async fn wake(&self) -> Result<(), Self::Error>;
}

/// One recovery at `now` (unix seconds).
pub async fn recover<A: EventsApi>(api: &A, now: i64) -> Result<Recovered, A::Error> {
    let mut walk = Walk::load(&api.position().await?, now);
    let mut out = Recovered::default();
    if walk.is_gap(now) {
        out.unrecoverable = true;
        api.gap(walk.since, now - walk.since).await?;
        walk = Walk::from(now - OVERLAP_SECS);
        api.save(&walk.saved()).await?;
    }
    let upto = *walk.upto.get_or_insert(now);
    let client = api.client().await?;
    let mut finished = false;
    for page_no in 0..RECOVERY_PAGES {
        if page_no > 0 {
            api.pause().await;
        }
        let page = match api
            .page(&client, walk.since, upto, walk.after.as_deref())
            .await
        {
            Ok(page) => page,
            // The saved position names an event Stripe no longer has: the same window again
            // from its start.
            Err(PageError::Gone(_)) if walk.after.is_some() => {
                walk.after = None;
                continue;
            }
            Err(PageError::Gone(e) | PageError::Failed(e)) => return Err(e),
        };
        out.events += api.record(&page.events).await?;
        match page.next {
            Some(next) if walk.after.as_deref() != Some(next.as_str()) => walk.after = Some(next),
            _ => {
                finished = true;
                break;
            }
        }
    }
    if finished {
        walk = Walk::from((upto - OVERLAP_SECS).max(walk.since));
    }
    api.save(&walk.saved()).await?;
    if out.events > 0 {
        api.wake().await?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
