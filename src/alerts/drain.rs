//! The project's alert drain, in the coordinator's worker: digests stored in D1, sent through
//! Resend, settled on the project's chain.

use super::queue::on;
use crate::audit::{commit_made, Chain};
use crate::auth::scope::ProjectHandle;
use crate::mail;
use crate::repo;
use crate::repo::alerts::DigestRow;
use crate::services::Services;
use parityrail_core::domain::alerts::{
    self, compose, recipients, AlertBook, Digest, Mailer, MAX_PER_DIGEST,
};
use parityrail_core::domain::audit::{Action, Actor, Draft};
use parityrail_core::domain::ids::RequestId;
use parityrail_core::domain::roles::Role;
use parityrail_core::domain::time::Timestamp;
use parityrail_core::fault::{Fallible, Fault};
use serde_json::json;

/// One drain of the project's alerts; when it is due again.
pub async fn drain(svc: &Services, pr: &ProjectHandle) -> Fallible<Option<Timestamp>> {
    if !on(svc) {
        return Ok(None);
    }
    let book = D1Alerts { svc, pr };
    // `ALERT_RETRY_BASE_MS` (tests) shortens the first backoff; never below 100 ms.
    let base = u64::from(svc.var_u32("ALERT_RETRY_BASE_MS", 30_000).max(100));
    alerts::drain(&book, &Resend { svc }, svc.now, base).await
}

struct D1Alerts<'a> {
    svc: &'a Services,
    pr: &'a ProjectHandle,
}

fn digest(r: DigestRow) -> Digest {
    Digest {
        to: serde_json::from_str(&r.recipients).unwrap_or_default(),
        id: r.id,
        subject: r.subject,
        text: r.body,
        incidents: usize::try_from(r.incidents).unwrap_or(0),
        attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
    }
}

impl D1Alerts<'_> {
    /// Settles `d` and records `action` on the project's chain, in one batch.
    async fn settle(
        &self,
        d: &Digest,
        action: Action,
        why: Option<&str>,
        now: Timestamp,
    ) -> Fallible<()> {
        let status = if action == Action::AlertSent {
            "sent"
        } else {
            "failed"
        };
        let mut after = json!({"status": status, "incidents": d.incidents, "recipients": d.to.len(), "sends": d.attempts + 1});
        if let Some(w) = why {
            after["error"] = json!(w);
        }
        let draft = Draft {
            actor: Actor::System("alerts"),
            action,
            target: format!("alert:{}", d.id),
            before: serde_json::Value::Null,
            after,
        };
        let pr = self.pr;
        let make = || {
            let stmt = repo::alerts::settle(pr, &d.id, status, d.attempts + 1, now, why, now)?;
            Ok((draft.clone(), vec![stmt]))
        };
        commit_made(pr.tenant(), Chain::Project(pr), now, &make)
            .await
            .map_err(|e| Fault::internal(e.detail.unwrap_or(e.message)))
    }
}

impl AlertBook for D1Alerts<'_> {
    async fn due(&self, now: Timestamp) -> Fallible<Option<Digest>> {
        Ok(repo::alerts::first_pending(self.pr)
            .await?
            .filter(|d| d.next_attempt_at <= now.to_rfc3339())
            .map(digest))
    }

    async fn running(&self) -> Fallible<bool> {
        repo::alerts::running(self.pr, self.svc.now).await
    }

    async fn open(&self, now: Timestamp) -> Fallible<Option<Digest>> {
        let items = repo::alerts::queued(self.pr, MAX_PER_DIGEST).await?;
        if items.is_empty() {
            return Ok(None);
        }
        let Some(project) = repo::projects::of_handle(self.pr).await? else {
            return Ok(None);
        };
        let members: Vec<(Role, String)> = repo::members::list(self.pr.tenant(), None, 500)
            .await?
            .into_iter()
            .map(|m| (m.role, m.email))
            .collect();
        let own = project.alert_recipients();
        let to = recipients(Some(&own), &members);
        let origin = self
            .svc
            .var("PUBLIC_ORIGIN")
            .unwrap_or_else(|| "http://localhost:8787".to_owned());
        let total = usize::try_from(repo::alerts::queued_count(self.pr).await?)
            .unwrap_or(0)
            .max(items.len());
        let (subject, text) = compose(&project.name, self.pr.as_str(), &origin, &items, total);
        // The digest's id is also its Idempotency-Key at Resend.
        let id = RequestId::generate(&mut self.svc.rng())?
            .as_str()
            .replacen("req_", "alt_", 1);
        let row = DigestRow {
            id,
            recipients: json!(to).to_string(),
            subject,
            body: text,
            incidents: total as i64,
            attempts: 0,
            next_attempt_at: now.to_rfc3339(),
        };
        let stmts = repo::alerts::open(self.pr, &row, now)?;
        self.pr.tenant().batch(stmts).await?;
        Ok(Some(digest(row)))
    }

    async fn sent(&self, d: &Digest, now: Timestamp) -> Fallible<()> {
        self.settle(d, Action::AlertSent, None, now).await
    }

    async fn retry(&self, d: &Digest, at: Timestamp, why: &str) -> Fallible<()> {
        let stmt = repo::alerts::settle(
            self.pr,
            &d.id,
            "pending",
            d.attempts + 1,
            at,
            Some(why),
            self.svc.now,
        )?;
        self.pr.tenant().batch(vec![stmt]).await?;
        Ok(())
    }

    async fn failed(&self, d: &Digest, why: &str, now: Timestamp) -> Fallible<()> {
        self.settle(d, Action::AlertFailed, Some(why), now).await
    }

    async fn next_due(&self) -> Fallible<Option<Timestamp>> {
        Ok(repo::alerts::first_pending(self.pr)
            .await?
            .and_then(|d| Timestamp::parse(&d.next_attempt_at).ok()))
    }
}

struct Resend<'a> {
    svc: &'a Services,
}

impl Mailer for Resend<'_> {
    async fn send(&self, d: &Digest) -> (Option<u16>, Option<String>) {
        let body = alerts::resend_body(&mail::from(self.svc), d).to_string();
        match mail::post_json(self.svc, body, Some(&d.id)).await {
            Some(r) => (Some(r.status), r.retry_after_secs.map(|s| s.to_string())),
            None => (None, None),
        }
    }
}
