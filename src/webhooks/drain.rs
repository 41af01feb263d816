//! The outbox drain, in the coordinator's worker: the customers with due rows checked once
//! each, the rows done or retried later, the project's alert e-mail sent from the same drain.

use crate::audit::By;
use crate::auth::scope::ProjectHandle;
use crate::reconcile::check_customers;
use crate::repo;
use crate::services::Services;
use parityrail_core::domain::apikey::Environment;
use parityrail_core::domain::outbox::{self, Checker, OutboxStore, PendingRow};
use parityrail_core::domain::time::Timestamp;
use parityrail_core::fault::{Fallible, Fault};
use std::collections::BTreeMap;

/// Customers one drain checks at most (each is one Stripe re-read and one app-row read).
pub const CUSTOMERS_PER_DRAIN: usize = 25;

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
    let live = project.environment == parityrail_core::domain::apikey::Environment::Live;
    let checks = Checks {
        svc,
        by: By::System {
            project: pr,
            job: "webhook",
        },
        env: project.environment,
    };
    let d = outbox::drain(&D1Outbox(pr), &checks, svc.now, CUSTOMERS_PER_DRAIN).await?;
    // The project's alert e-mail goes out from the same drain (incidents the checks above just
    // opened included); its failures never fail the outbox's.
    let alerts_due = match crate::alerts::drain(svc, pr).await {
        Ok(at) => at,
        Err(e) => {
            worker::console_error!(
                "{}",
                serde_json::json!({"job": "alerts", "project": pr.as_str(), "error": e.code(), "detail": e.detail()})
            );
            Some(svc.now.plus_seconds(60))
        }
    };
    // And its outbound webhooks (the events of the checks above included); the same rule.
    let hooks_due = match crate::hooks::drain(svc, pr, live).await {
        Ok(at) => at,
        Err(e) => {
            worker::console_error!(
                "{}",
                serde_json::json!({"job": "hooks", "project": pr.as_str(), "error": e.code(), "detail": e.detail()})
            );
            Some(svc.now.plus_seconds(60))
        }
    };
    let next_due = [d.next_due, alerts_due, hooks_due]
        .into_iter()
        .flatten()
        .min();
    if d.checked == 0 {
        // Nothing was due: no credential was opened, no database reached.
        return Ok(next_due);
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
    Ok(next_due)
}
