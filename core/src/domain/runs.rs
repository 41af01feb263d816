//! A full reconcile run (SPEC §6), as pure steps. The project's Durable Object walks the phases
//! below, one Stripe list page or one batched read of app rows per step:
//!
//! 1. `subscriptions`: list every subscription (100 a page) and keep what the diff needs of each;
//! 2. `customers`: list every customer (100 a page) and keep their ids;
//! 3. `features`: one `GET /v1/products/{id}/features` per product the subscriptions bill;
//! 4. `app`: read the app table in key order, up to `APP_BATCH` rows after the cursor (a keyset
//!    scan, one round trip), and decide every customer of one key range: those rows, the Stripe
//!    customers in the range (at most `STRIPE_BATCH`) and the customers that have live incidents
//!    there ([`decide`]). The range ends at the last row read when the batch was full, at the last
//!    Stripe customer when those were capped, and nowhere (the rest of the key space) otherwise:
//!    then the run is done. So Stripe-only customers and customers whose incidents outlived
//!    both sides are reached without a request per customer.
//!
//! Keys compare as bytes everywhere (`COLLATE "C"` in PostgreSQL, SQLite's default `BINARY`,
//! Rust's `str` order), so the three sources agree on what a range holds.

use super::mapping::Mapping;
use super::reconcile::{self, AppValues, Drift, ProductFeatures, StripeCustomer};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// App rows per step (one round trip each).
pub const APP_BATCH: u32 = 500;
/// Stripe customers decided per step at most (so a sparse app table cannot make a step huge).
pub const STRIPE_BATCH: u32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Subscriptions,
    Customers,
    Features,
    App,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Subscriptions => "subscriptions",
            Phase::Customers => "customers",
            Phase::Features => "features",
            Phase::App => "app",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        [
            Phase::Subscriptions,
            Phase::Customers,
            Phase::Features,
            Phase::App,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// The keys `(after, upto]`; `upto: None` is everything after `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub after: String,
    pub upto: Option<String>,
}

impl Range {
    pub fn contains(&self, key: &str) -> bool {
        key > self.after.as_str() && self.upto.as_deref().is_none_or(|u| key <= u)
    }
}

/// The range one `app` step decides, from what it read after `after`: the last app key (and
/// whether the batch was full) and the last Stripe customer id (and whether those were capped).
/// A full batch may have more beyond its last key, so the range stops there; the nearer stop
/// wins.
pub fn step_range(
    after: &str,
    app_last: Option<&str>,
    app_full: bool,
    stripe_last: Option<&str>,
    stripe_full: bool,
) -> Range {
    let stops = [(app_full, app_last), (stripe_full, stripe_last)];
    let upto = stops
        .into_iter()
        .filter_map(|(full, last)| if full { last } else { None })
        .min()
        .map(str::to_owned);
    Range {
        after: after.to_owned(),
        upto,
    }
}

/// What a run decided about one customer: its drifts and the state they were decided on (kept
/// as the snapshot of any incident it opens).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decided {
    pub drifts: Vec<Drift>,
    pub stripe: Option<StripeCustomer>,
    pub app: Option<AppValues>,
}

/// Decides every customer of `range`: each app row's key, each Stripe customer and each
/// customer with live incidents in it. A customer Stripe does not list is `None` on the
/// expected side; one without an app row `None` on the actual side. Keys outside the range are
/// ignored (the caller may have read past it). A key with more than one app row is not decided
/// at all (which row grants access is ambiguous, and picking one would make its incidents flap):
/// it is reported in the second value, and its incidents are left as they are.
pub fn decide(
    m: &Mapping,
    range: &Range,
    app: &[(String, AppValues)],
    stripe: &BTreeMap<String, StripeCustomer>,
    features: &ProductFeatures,
    with_incidents: &BTreeSet<String>,
) -> (BTreeMap<String, Decided>, Vec<String>) {
    let mut rows: BTreeMap<&str, &AppValues> = BTreeMap::new();
    let mut duplicated = Vec::new();
    for (key, values) in app.iter().filter(|(k, _)| range.contains(k)) {
        if rows.contains_key(key.as_str()) {
            duplicated.push(key.clone());
        } else {
            rows.insert(key, values);
        }
    }
    duplicated.dedup();
    let customers: BTreeSet<&str> = rows
        .keys()
        .copied()
        .chain(stripe.keys().map(String::as_str))
        .chain(with_incidents.iter().map(String::as_str))
        .filter(|k| range.contains(k) && !duplicated.iter().any(|d| d == k))
        .collect();
    let decided = customers
        .into_iter()
        .map(|c| {
            let s = stripe.get(c);
            let a = rows.get(c).copied();
            let expected = s.map(|s| reconcile::expected(m, s, features));
            let actual = a.map(|v| reconcile::actual(m, v));
            let drifts = reconcile::diff(m, c, expected.as_ref(), actual.as_ref());
            let d = Decided {
                drifts,
                stripe: s.cloned(),
                app: a.cloned(),
            };
            (c.to_owned(), d)
        })
        .collect();
    (decided, duplicated)
}

/// Where a run stands: its phase and the cursor inside it (a Stripe page cursor in the listing
/// phases, the last product in `features`, the last key in `app`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    pub phase: Phase,
    pub cursor: Option<String>,
}

/// A Stripe list handed a phase a cursor it had handed it before (it would never end), or the
/// phase passed its page cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stalled;

/// What a run step reads and keeps, as the run engine sees it (at the edge: Stripe, the
/// coordinator's own storage, the app database and D1).
#[allow(async_fn_in_trait)]
pub trait RunSource {
    type Error: From<Stalled>;
    /// Reads and keeps the page of subscriptions at `cursor`; the next cursor, if the list goes on.
    async fn subscriptions_page(&self, cursor: Option<&str>)
        -> Result<Option<String>, Self::Error>;
    /// Reads and keeps the page of customers at `cursor`; the next cursor, if the list goes on.
    async fn customers_page(&self, cursor: Option<&str>) -> Result<Option<String>, Self::Error>;
    /// The first product the kept subscriptions bill after `after` (byte order), if any.
    async fn product_after(&self, after: &str) -> Result<Option<String>, Self::Error>;
    /// Reads and keeps the features of `product`.
    async fn features(&self, product: &str) -> Result<(), Self::Error>;
    /// Records that `phase` was handed `cursor`: whether it was handed it before, and how many
    /// cursors the phase has been handed now.
    async fn handed(&self, phase: Phase, cursor: &str) -> Result<(bool, usize), Self::Error>;
    /// Decides and applies the app key range after `cursor`; where the next range starts, or
    /// `None` when the key space is done.
    async fn app_range(&self, cursor: Option<&str>) -> Result<Option<String>, Self::Error>;
}

/// One step of a run at `at`: where it stands next, or `None` when it is done. The listing
/// phases fail with `Stalled` when Stripe hands back a cursor it handed before or a phase takes
/// more than `max_pages` pages.
pub async fn advance<S: RunSource>(
    src: &S,
    at: &At,
    max_pages: usize,
) -> Result<Option<At>, S::Error> {
    let to = |phase, cursor| Some(At { phase, cursor });
    let listed = |phase: Phase, next: Option<String>, then: Phase| async move {
        match next {
            Some(c) => {
                let (again, count) = src.handed(phase, &c).await?;
                if again || count > max_pages {
                    return Err(S::Error::from(Stalled));
                }
                Ok(to(phase, Some(c)))
            }
            None => Ok(to(then, None)),
        }
    };
    let cursor = at.cursor.as_deref();
    match at.phase {
        Phase::Subscriptions => {
            let next = src.subscriptions_page(cursor).await?;
            listed(Phase::Subscriptions, next, Phase::Customers).await
        }
        Phase::Customers => {
            let next = src.customers_page(cursor).await?;
            listed(Phase::Customers, next, Phase::Features).await
        }
        Phase::Features => match src.product_after(cursor.unwrap_or("")).await? {
            None => Ok(to(Phase::App, None)),
            Some(product) => {
                src.features(&product).await?;
                Ok(to(Phase::Features, Some(product)))
            }
        },
        Phase::App => Ok(src.app_range(cursor).await?.map(|upto| At {
            phase: Phase::App,
            cursor: Some(upto),
        })),
    }
}

#[cfg(test)]
mod tests;
