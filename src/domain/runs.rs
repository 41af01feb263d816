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

#[cfg(test)]
mod tests;
