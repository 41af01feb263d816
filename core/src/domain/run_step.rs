//! The rules of a run's `app` step (SPEC §6), as an engine over the `AppStep` port (the app
//! table's keyset read, the run's Stripe facts, live incidents and the incident book at the
//! edge): how much it reads (`Batches`), the key range it decides (`runs::step_range`: a full
//! batch may have more beyond its last key), which app rows count (a key that is not a Stripe
//! customer id is skipped with a note), what is decided (`runs::decide`; a key with more than
//! one app row is noted and left as it is), and that a check or a webhook which decided about a
//! customer since the run started is fresher than what the run read, and stands.

use super::mapping::Mapping;
use super::reconcile::{is_customer_id, AppValues, ProductFeatures, StripeCustomer};
use super::records::Counts;
use super::runs::{decide, step_range, Decided, Range, APP_BATCH, STRIPE_BATCH};
use std::collections::{BTreeMap, BTreeSet};

/// How many app rows and Stripe customers one step reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batches {
    pub app: u32,
    pub stripe: u32,
}

impl Batches {
    /// The batches asked for, held to `[1, APP_BATCH]` and `[1, STRIPE_BATCH]` (only smaller
    /// batches may be asked for: tests walk many steps with them).
    pub fn new(app: u32, stripe: u32) -> Self {
        Batches {
            app: app.clamp(1, APP_BATCH),
            stripe: stripe.clamp(1, STRIPE_BATCH),
        }
    }
}

/// What an `app` step reads and writes.
#[allow(async_fn_in_trait)]
pub trait AppStep {
    type Error;
    /// Up to `limit` app rows (key, mapped values) after `after`, in byte order.
    async fn rows_after(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, AppValues)>, Self::Error>;
    /// Up to `limit` of the run's Stripe customer ids after `after`, in byte order.
    async fn customers_after(&self, after: &str, limit: u32) -> Result<Vec<String>, Self::Error>;
    /// The customers among `ids` in `range`, with their subscriptions.
    async fn stripe_customers(
        &self,
        ids: &[String],
        range: &Range,
    ) -> Result<BTreeMap<String, StripeCustomer>, Self::Error>;
    async fn features(&self) -> Result<ProductFeatures, Self::Error>;
    /// The customers with live incidents in `range`.
    async fn with_incidents(&self, range: &Range) -> Result<BTreeSet<String>, Self::Error>;
    /// The customers in `range` whose incidents a check or a webhook touched since the run
    /// started.
    async fn touched_since_start(&self, range: &Range) -> Result<BTreeSet<String>, Self::Error>;
    /// Plans and applies what was decided in `range`.
    async fn apply(
        &self,
        range: &Range,
        decided: &BTreeMap<String, Decided>,
    ) -> Result<(), Self::Error>;
    /// A non-fatal error of the step, kept with the run.
    fn note(&self, message: String);
}

/// One `app` step after `after`: where the next starts (`None`: the key space is done) and
/// what it counted.
pub async fn app_step<P: AppStep>(
    p: &P,
    m: &Mapping,
    after: &str,
    batches: Batches,
) -> Result<(Option<String>, Counts), P::Error> {
    let rows = p.rows_after(after, batches.app).await?;
    let stripe_ids = p.customers_after(after, batches.stripe).await?;
    let range = step_range(
        after,
        rows.last().map(|(k, _)| k.as_str()),
        rows.len() == batches.app as usize,
        stripe_ids.last().map(String::as_str),
        stripe_ids.len() == batches.stripe as usize,
    );
    let stripe = p.stripe_customers(&stripe_ids, &range).await?;
    let features = p.features().await?;
    let with_incidents = p.with_incidents(&range).await?;
    let app: Vec<(String, AppValues)> = rows
        .into_iter()
        .filter(|(key, _)| {
            let ok = is_customer_id(key);
            if !ok {
                p.note("an app row's customer key is not a Stripe customer id; skipped".to_owned());
            }
            ok
        })
        .collect();
    let (mut decided, duplicated) = decide(m, &range, &app, &stripe, &features, &with_incidents);
    // What this run read from Stripe may predate a check or a webhook that decided about a
    // customer since the run started: that decision is fresher, and stands.
    let fresher = p.touched_since_start(&range).await?;
    decided.retain(|c, _| !fresher.contains(c));
    for key in duplicated {
        p.note(format!(
            "the app table has more than one row for customer {key}; it was not decided"
        ));
    }
    p.apply(&range, &decided).await?;
    let counts = Counts {
        customers_checked: decided.len() as u64,
        incidents_opened: 0,
        incidents_resolved: 0,
        stripe_requests: 0,
        db_round_trips: 1,
    };
    Ok((range.upto, counts))
}

#[cfg(test)]
mod tests;
