//! The diff engine (SPEC §6): what a customer should have, from Stripe and the mapping alone
//! (`expected`), against what the app row grants (`actual`), as drifts of the SPEC kinds in a
//! deterministic order (`diff`). Pure: no I/O, no clock. Invariants, property-tested: a customer
//! with a subscription in a `keep` grace state never yields a revocation; a customer in parity
//! yields nothing; the order of the inputs does not matter; the expected side never reads the app.

use super::mapping::{GraceRule, Mapping};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Access as either side implies it (SPEC §15 `expected` / `actual`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    pub plan: String,
    pub premium: bool,
    pub trial: bool,
    pub entitlements: BTreeSet<String>,
}

/// One subscription item: the price (or legacy plan) and its product.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemFacts {
    pub price: Option<String>,
    pub product: Option<String>,
}

/// What the diff needs of one subscription.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SubFacts {
    pub id: String,
    pub status: String,
    pub items: Vec<ItemFacts>,
}

/// A Stripe customer as seen now: its subscriptions, and (when one customer is checked) its
/// active entitlements' lookup keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StripeCustomer {
    pub subscriptions: Vec<SubFacts>,
    pub active_entitlements: Option<BTreeSet<String>>,
}

/// Product id → the lookup keys of its features (`GET /v1/products/{id}/features`).
pub type ProductFeatures = BTreeMap<String, BTreeSet<String>>;

/// The expected side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expected {
    pub access: Access,
    /// A subscription is in a `keep` state (or bills a price the mapping does not know): what
    /// the app grants beyond `access` must not be taken away.
    pub hold: bool,
    /// Prices of paying subscriptions that the plan table maps neither by price nor product.
    pub unmapped: BTreeSet<String>,
}

/// The most of a text value read from the app (the plan column): a hostile or broken row
/// cannot make a read, an incident or an audit entry huge.
pub const MAX_TEXT_CHARS: u32 = 256;

/// The app row's mapped columns, as read (JSON values; `null` where the column is NULL).
pub type AppValues = BTreeMap<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    MissingAccess,
    UnpaidAccess,
    PlanMismatch,
    TrialMismatch,
    EntitlementMismatch,
    UnknownCustomer,
}

impl IncidentKind {
    pub const ALL: [IncidentKind; 6] = [
        IncidentKind::MissingAccess,
        IncidentKind::UnpaidAccess,
        IncidentKind::PlanMismatch,
        IncidentKind::TrialMismatch,
        IncidentKind::EntitlementMismatch,
        IncidentKind::UnknownCustomer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::MissingAccess => "missing_access",
            IncidentKind::UnpaidAccess => "unpaid_access",
            IncidentKind::PlanMismatch => "plan_mismatch",
            IncidentKind::TrialMismatch => "trial_mismatch",
            IncidentKind::EntitlementMismatch => "entitlement_mismatch",
            IncidentKind::UnknownCustomer => "unknown_customer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        IncidentKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// `high` for paid-but-locked-out and using-without-paying, else `medium`.
    pub fn severity(self) -> &'static str {
        match self {
            IncidentKind::MissingAccess | IncidentKind::UnpaidAccess => "high",
            _ => "medium",
        }
    }
}

/// One drift on one customer. `expected` is `None` when Stripe has no such customer; `actual`
/// is `None` when the app has no row for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub customer: String,
    pub kind: IncidentKind,
    pub expected: Option<Access>,
    pub actual: Option<Access>,
}

/// A Stripe customer id as it may appear in a path: 1..=255 of `[A-Za-z0-9_]` (Stripe's own
/// ids are `cus_` and base62). Anything else names no customer.
pub fn is_customer_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// What the customer should have. Never reads the app row. `None` for `stripe` means Stripe has
/// no such customer (deleted or never existed).
pub fn expected(m: &Mapping, stripe: &StripeCustomer, features: &ProductFeatures) -> Expected {
    let mut best: Option<(i64, &str)> = None;
    let (mut paid, mut trial, mut hold) = (false, false, false);
    let mut entitlements = BTreeSet::new();
    let mut unmapped = BTreeSet::new();
    for sub in &stripe.subscriptions {
        let rule = m.grace.rule(&sub.status);
        match rule {
            GraceRule::Keep => {
                hold = true;
                continue;
            }
            GraceRule::Revoke => continue,
            GraceRule::Access | GraceRule::Trial => {}
        }
        for item in &sub.items {
            let found = [item.price.as_deref(), item.product.as_deref()]
                .into_iter()
                .flatten()
                .find_map(|id| m.plans.get(id));
            let Some(plan) = found else {
                // Billing something the mapping does not know: never revoke on a guess.
                hold = true;
                unmapped.insert(item.price.clone().unwrap_or_default());
                continue;
            };
            paid = true;
            trial |= rule == GraceRule::Trial;
            entitlements.extend(plan.entitlements.iter().cloned());
            if let Some(f) = item.product.as_ref().and_then(|p| features.get(p)) {
                entitlements.extend(f.iter().cloned());
            }
            // Highest rank wins; a tie goes to the smaller name, so input order never matters.
            let candidate = (plan.rank, plan.plan.as_str());
            if best.is_none_or(|(r, n)| candidate.0 > r || (candidate.0 == r && candidate.1 < n)) {
                best = Some(candidate);
            }
        }
    }
    if paid {
        if let Some(active) = &stripe.active_entitlements {
            entitlements.extend(active.iter().cloned());
        }
    }
    entitlements.retain(|k| m.entitlements.contains_key(k));
    let plan = best.map_or_else(|| m.free_plan.clone(), |(_, n)| n.to_owned());
    Expected {
        access: Access {
            premium: plan != m.free_plan,
            plan,
            trial: paid && trial,
            entitlements,
        },
        hold,
        unmapped,
    }
}

/// What the app row grants. A NULL plan is the free plan; a NULL flag is false. Without a
/// premium column, premium means "not the free plan".
pub fn actual(m: &Mapping, row: &AppValues) -> Access {
    let flag = |col: &str| row.get(col).and_then(Value::as_bool).unwrap_or(false);
    let plan = match row.get(m.plan_column.as_str()) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => m.free_plan.clone(),
        Some(other) => other.to_string(),
    };
    Access {
        premium: match &m.premium_column {
            Some(c) => flag(c.as_str()),
            None => plan != m.free_plan,
        },
        trial: m.trial_column.as_ref().is_some_and(|c| flag(c.as_str())),
        entitlements: m
            .entitlements
            .iter()
            .filter(|(_, c)| flag(c.as_str()))
            .map(|(k, _)| k.clone())
            .collect(),
        plan,
    }
}

/// The drifts of one customer, in `IncidentKind` order. `expected` is `None` when Stripe has no
/// such customer; `actual` is `None` when the app has no row for it.
pub fn diff(
    m: &Mapping,
    customer: &str,
    expected: Option<&Expected>,
    actual: Option<&Access>,
) -> Vec<Drift> {
    let drift = |kind| Drift {
        customer: customer.to_owned(),
        kind,
        expected: expected.map(|e| e.access.clone()),
        actual: actual.cloned(),
    };
    let (e, a) = match (expected, actual) {
        (None, None) => return vec![],
        // The app names a customer Stripe does not have.
        (None, Some(_)) => return vec![drift(IncidentKind::UnknownCustomer)],
        // Paying in Stripe, no app row to grant it.
        (Some(e), None) if e.access.premium => return vec![drift(IncidentKind::UnknownCustomer)],
        (Some(_), None) => return vec![],
        (Some(e), Some(a)) => (e, a),
    };
    let mut out = Vec::new();
    // Under hold (a `keep` state or an unmapped price) the target never takes anything away:
    // each field is the greater of what Stripe implies and what the app grants.
    let merged = e.hold.then(|| hold_target(m, &e.access, a));
    let exp = merged.as_ref().unwrap_or(&e.access);
    let drift = |kind| Drift {
        customer: customer.to_owned(),
        kind,
        expected: Some(exp.clone()),
        actual: Some(a.clone()),
    };
    if exp.premium && !a.premium {
        out.push(drift(IncidentKind::MissingAccess));
    } else if !exp.premium && a.premium {
        out.push(drift(IncidentKind::UnpaidAccess));
    } else if exp.plan != a.plan {
        out.push(drift(IncidentKind::PlanMismatch));
    }
    if m.trial_column.is_some() && exp.trial != a.trial {
        out.push(drift(IncidentKind::TrialMismatch));
    }
    if exp.entitlements != a.entitlements {
        out.push(drift(IncidentKind::EntitlementMismatch));
    }
    out
}

/// The target under hold: the higher-ranked plan (the app's on a tie or an unknown rank),
/// premium and trial if either side has them, the union of entitlements.
fn hold_target(m: &Mapping, exp: &Access, a: &Access) -> Access {
    let plan = match (m.rank_of(&exp.plan), m.rank_of(&a.plan)) {
        (Some(x), Some(y)) if x > y => exp.plan.clone(),
        _ => a.plan.clone(),
    };
    Access {
        premium: exp.premium || a.premium,
        trial: exp.trial || a.trial,
        entitlements: exp.entitlements.union(&a.entitlements).cloned().collect(),
        plan,
    }
}

/// Whether fixing `d` would take access away (what a `keep` grace state forbids).
pub fn is_revocation(m: &Mapping, d: &Drift) -> bool {
    let (Some(e), Some(a)) = (&d.expected, &d.actual) else {
        return false;
    };
    match d.kind {
        IncidentKind::UnpaidAccess => true,
        IncidentKind::PlanMismatch => match (m.rank_of(&e.plan), m.rank_of(&a.plan)) {
            (Some(x), Some(y)) => x < y,
            _ => true,
        },
        IncidentKind::TrialMismatch => a.trial && !e.trial,
        IncidentKind::EntitlementMismatch => {
            a.entitlements.difference(&e.entitlements).next().is_some()
        }
        IncidentKind::MissingAccess | IncidentKind::UnknownCustomer => false,
    }
}

#[cfg(test)]
mod tests;
