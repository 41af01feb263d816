//! Alert e-mail (SPEC §11): a high-severity incident (`missing_access`, `unpaid_access`) that
//! opens is queued once (its id is the queue's key, in the batch that opens it); the project's
//! drain gathers what is queued into one digest (one e-mail for a run's whole burst: nothing is
//! gathered while a run of the project is going), composed once and stored, so a retry sends
//! the same e-mail under the same Resend `Idempotency-Key` (the digest's id); `429`, `5xx` and
//! no answer are retried with backoff (`Retry-After` honoured), up to `MAX_ATTEMPTS`; any other
//! answer ends the digest as failed. Sent and failed digests are audited by the adapter. The
//! e-mail names each customer id, the incident's kind and a link to it; nothing else from the
//! app row or Stripe, and never a secret.

use crate::domain::mail::Mail;
use crate::domain::reconcile::IncidentKind;
use crate::domain::roles::Role;
use crate::domain::time::Timestamp;
use crate::fault::Fallible;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// Incidents one e-mail lists at most (a digest takes every queued incident; the e-mail lists
/// the first ones, says how many more, and links to all of them).
pub const MAX_PER_DIGEST: usize = 50;
/// Recipients of one e-mail at most (Resend's limit).
pub const MAX_RECIPIENTS: usize = 50;
/// Sends of one digest before it is given up.
pub const MAX_ATTEMPTS: u32 = 12;
/// Digests one drain sends at most.
pub const DIGESTS_PER_DRAIN: usize = 5;

/// Whether an incident of this kind is alerted.
pub fn alerts_on(kind: IncidentKind) -> bool {
    matches!(
        kind,
        IncidentKind::MissingAccess | IncidentKind::UnpaidAccess
    )
}

/// One queued incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub incident_id: String,
    pub customer: String,
    pub kind: String,
}

/// A digest: its id (the `Idempotency-Key`), the e-mail, and how many sends it has had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub id: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub incidents: usize,
    pub attempts: u32,
}

/// Who gets a project's alerts: its own list when one is set, else the org's owners and
/// admins; lower-cased, each once, sorted, at most `MAX_RECIPIENTS`.
pub fn recipients(project_list: Option<&[String]>, members: &[(Role, String)]) -> Vec<String> {
    let mut to: Vec<String> = match project_list {
        Some(list) if !list.is_empty() => list.iter().map(|e| e.to_ascii_lowercase()).collect(),
        _ => members
            .iter()
            .filter(|(r, _)| matches!(r, Role::Owner | Role::Admin))
            .map(|(_, e)| e.to_ascii_lowercase())
            .collect(),
    };
    to.sort();
    to.dedup();
    to.truncate(MAX_RECIPIENTS);
    to
}

/// Printable text on one line (a project's name in a subject).
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(100)
        .collect()
}

/// The digest's subject and text for `total` incidents: each of `items` (the first ones) with
/// its customer, kind and link in the dashboard at `origin`, then how many more and where.
pub fn compose(
    project_name: &str,
    project_id: &str,
    origin: &str,
    items: &[Item],
    total: usize,
) -> (String, String) {
    let n = total.max(items.len());
    let s = if n == 1 { "" } else { "s" };
    let name = one_line(project_name);
    let subject = format!(
        "ParityRail: {n} customer{s} paying for access they do not have, or using access they do not pay for ({name})"
    );
    let mut text = format!(
        "ParityRail found {n} new high-severity incident{s} in project {name} ({project_id}):\n\n"
    );
    let origin = origin.trim_end_matches('/');
    for i in items {
        text.push_str(&format!(
            "- {}: {}\n  {origin}/projects/{project_id}/incidents/{}\n",
            i.customer, i.kind, i.incident_id
        ));
    }
    if n > items.len() {
        text.push_str(&format!(
            "- and {} more: {origin}/projects/{project_id}/incidents?status=open\n",
            n - items.len()
        ));
    }
    text.push_str(
        "\nEach link opens the incident in the ParityRail dashboard, with the repair it proposes.\n\
         You get this e-mail as an alert recipient of the project (its list, or the org's owners \
         and admins).\n",
    );
    (subject, text)
}

/// The Resend request body of a digest.
pub fn resend_body(from: &str, d: &Digest) -> serde_json::Value {
    let mut body = Mail {
        to: String::new(),
        subject: d.subject.clone(),
        text: d.text.clone(),
    }
    .resend_body(from);
    body["to"] = serde_json::json!(d.to);
    body
}

/// What a send's answer means for its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Try again this many milliseconds from now.
    Retry(u64),
    Failed(String),
}

/// The first backoff (doubling from there).
pub const RETRY_BASE_MS: u64 = 30_000;

/// The backoff before send `attempt + 1` (`base_ms` doubling, at most an hour), or what the
/// answer's `Retry-After` asks if longer (at most an hour: every retry stays well within
/// Resend's 24-hour idempotency window).
pub fn backoff_ms(base_ms: u64, attempt: u32, retry_after_secs: Option<u64>) -> u64 {
    let exp = base_ms
        .saturating_mul(1u64 << attempt.min(20))
        .min(3_600_000);
    exp.max(retry_after_secs.unwrap_or(0).min(3_600) * 1000)
}

/// Reads a send's answer: its HTTP status (`None`: no answer in time) and `Retry-After`, for a
/// digest already sent `attempts` times before.
pub fn outcome(
    status: Option<u16>,
    retry_after: Option<&str>,
    attempts: u32,
    base_ms: u64,
) -> Outcome {
    let retry = match status {
        Some(s) if (200..300).contains(&s) => return Outcome::Sent,
        // 409: Resend is still processing a send under this Idempotency-Key.
        Some(408 | 409 | 429) | None => true,
        Some(s) => s >= 500,
    };
    let said = status.map_or("no answer".to_owned(), |s| format!("HTTP {s}"));
    if !retry {
        return Outcome::Failed(format!("Resend refused the e-mail ({said})"));
    }
    if attempts + 1 >= MAX_ATTEMPTS {
        return Outcome::Failed(format!(
            "given up after {MAX_ATTEMPTS} sends (last: {said})"
        ));
    }
    let after = retry_after.and_then(|v| v.trim().parse::<u64>().ok());
    Outcome::Retry(backoff_ms(base_ms, attempts, after))
}

/// The alert queue of one project, as the drain needs it.
pub trait AlertBook {
    /// The pending digest due first, if one is due at `now`.
    fn due(&self, now: Timestamp) -> impl Future<Output = Fallible<Option<Digest>>>;
    /// Whether a run of the project is going (its alerts wait for its end: one digest).
    fn running(&self) -> impl Future<Output = Fallible<bool>>;
    /// Gathers every queued incident into a new digest (composed and stored with them, all or
    /// nothing), if any are queued.
    fn open(&self, now: Timestamp) -> impl Future<Output = Fallible<Option<Digest>>>;
    fn sent(&self, d: &Digest, now: Timestamp) -> impl Future<Output = Fallible<()>>;
    fn retry(&self, d: &Digest, at: Timestamp, why: &str) -> impl Future<Output = Fallible<()>>;
    fn failed(&self, d: &Digest, why: &str, now: Timestamp) -> impl Future<Output = Fallible<()>>;
    /// When the drain is due again: the first pending digest's time.
    fn next_due(&self) -> impl Future<Output = Fallible<Option<Timestamp>>>;
}

/// Sends one digest: the HTTP status Resend answered (`None`: none in time) and its
/// `Retry-After`.
pub trait Mailer {
    fn send(&self, d: &Digest) -> impl Future<Output = (Option<u16>, Option<String>)>;
}

/// One drain: the due digests sent (retries first), then what is queued gathered and sent, at
/// most `DIGESTS_PER_DRAIN`, retries backing off from `base_ms`; returns when the drain is due
/// again.
pub async fn drain<B: AlertBook, M: Mailer>(
    book: &B,
    mailer: &M,
    now: Timestamp,
    base_ms: u64,
) -> Fallible<Option<Timestamp>> {
    for _ in 0..DIGESTS_PER_DRAIN {
        let d = match book.due(now).await? {
            Some(d) => d,
            None if book.running().await? => break,
            None => match book.open(now).await? {
                Some(d) => d,
                None => break,
            },
        };
        if d.to.is_empty() {
            book.failed(&d, "no recipients: the project has no list and the org no owner or admin with an e-mail", now)
                .await?;
            continue;
        }
        let (status, retry_after) = mailer.send(&d).await;
        match outcome(status, retry_after.as_deref(), d.attempts, base_ms) {
            Outcome::Sent => book.sent(&d, now).await?,
            Outcome::Retry(ms) => {
                let at = Timestamp::from_millis(now.millis().saturating_add(ms as i64));
                let why = status.map_or("no answer".to_owned(), |s| format!("HTTP {s}"));
                book.retry(&d, at, &why).await?
            }
            Outcome::Failed(why) => book.failed(&d, &why, now).await?,
        }
    }
    book.next_due().await
}

#[cfg(test)]
mod tests;
