//! Webhook event rows (migration 0012): where ParityRail learned of an event, and what
//! `GET …/webhooks/health` reports of a project's events and outbox.

use serde::{Deserialize, Serialize};

/// Where ParityRail learned of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Webhook,
    EventsApi,
}

impl Source {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::EventsApi => "events_api",
        }
    }
}

/// What `GET …/webhooks/health` reports.
#[derive(Debug, Deserialize, Serialize)]
pub struct Health {
    pub events_received: i64,
    pub events_recovered: i64,
    pub newest_event_created: Option<i64>,
    pub outbox_pending: i64,
    /// The newest gap the Events API could no longer fill (answered by a full run).
    pub unrecoverable_gap: Option<Gap>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct Gap {
    pub detected_at: String,
    pub gap_from: i64,
}
