//! The Stripe objects ParityRail reads, with only the fields it uses. Subscription items carry
//! either `price` (current API) or the legacy `plan` (older API versions, and `localstripe`);
//! both are accepted and read the same way. A subscription's `items` is a list whose further
//! pages the client fetches (`StripeClient::subscriptions_page`).

use crate::domain::reconcile::{ItemFacts, SubFacts};
use serde::{Deserialize, Serialize};

pub trait HasId {
    fn id(&self) -> &str;
}

/// A Stripe list object (one page of `data`; `has_more` when another follows).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct List<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Account {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Customer {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub deleted: bool,
}

/// A string id, or the expanded object carrying one.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum IdOrObject {
    Id(String),
    Object { id: String },
}

impl IdOrObject {
    pub fn id(&self) -> &str {
        match self {
            IdOrObject::Id(s) | IdOrObject::Object { id: s } => s,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PriceLike {
    pub id: String,
    #[serde(default)]
    pub product: Option<IdOrObject>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct SubscriptionItem {
    pub id: String,
    #[serde(default)]
    pub price: Option<PriceLike>,
    #[serde(default)]
    pub plan: Option<PriceLike>,
}

impl SubscriptionItem {
    /// The price id (or legacy plan id) this item bills.
    pub fn price_id(&self) -> Option<&str> {
        self.price
            .as_ref()
            .or(self.plan.as_ref())
            .map(|p| p.id.as_str())
    }

    pub fn product_id(&self) -> Option<&str> {
        self.price
            .as_ref()
            .or(self.plan.as_ref())
            .and_then(|p| p.product.as_ref())
            .map(IdOrObject::id)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Subscription {
    pub id: String,
    pub customer: IdOrObject,
    pub status: String,
    /// Stripe embeds the first page only; `StripeClient` fetches the rest, so a subscription it
    /// returns has every item here and `has_more` false.
    pub items: List<SubscriptionItem>,
    #[serde(default)]
    pub trial_end: Option<i64>,
}

impl Subscription {
    /// What the diff needs of it: its id, status and each item's price and product.
    pub fn facts(&self) -> SubFacts {
        SubFacts {
            id: self.id.clone(),
            status: self.status.clone(),
            items: self
                .items
                .data
                .iter()
                .map(|i| ItemFacts {
                    price: i.price_id().map(str::to_owned),
                    product: i.product_id().map(str::to_owned),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Product {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ActiveEntitlement {
    pub id: String,
    pub lookup_key: String,
    #[serde(default)]
    pub feature: Option<IdOrObject>,
}

/// An event as the Events API lists it (kept whole: `domain::webhook::facts_of` reads it).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Event {
    pub id: String,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

impl Event {
    /// The event as one JSON object, id included.
    pub fn to_value(&self) -> serde_json::Value {
        let mut m = self.rest.clone();
        m.insert("id".into(), serde_json::Value::String(self.id.clone()));
        serde_json::Value::Object(m)
    }
}

/// A feature attached to a product (`GET /v1/products/{id}/features`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ProductFeature {
    pub id: String,
    pub entitlement_feature: FeatureRef,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct FeatureRef {
    pub lookup_key: String,
}

macro_rules! has_id {
    ($($t:ty),*) => { $(impl HasId for $t { fn id(&self) -> &str { &self.id } })* };
}
has_id!(
    Customer,
    Subscription,
    SubscriptionItem,
    Product,
    ActiveEntitlement,
    ProductFeature,
    Event
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_with_price_or_legacy_plan_read_the_same() {
        let modern: SubscriptionItem =
            serde_json::from_str(r#"{"id":"si_1","price":{"id":"price_pro","product":"prod_1"}}"#)
                .unwrap();
        let legacy: SubscriptionItem = serde_json::from_str(
            r#"{"id":"si_2","plan":{"id":"plan_pro","product":{"id":"prod_1","name":"Pro"}}}"#,
        )
        .unwrap();
        assert_eq!(
            (modern.price_id(), modern.product_id()),
            (Some("price_pro"), Some("prod_1"))
        );
        assert_eq!(
            (legacy.price_id(), legacy.product_id()),
            (Some("plan_pro"), Some("prod_1"))
        );
    }

    #[test]
    fn a_subscription_parses_with_an_expanded_or_plain_customer() {
        let s: Subscription = serde_json::from_str(
            r#"{"id":"sub_1","customer":"cus_1","status":"active","items":{"object":"list","data":[],"has_more":false},"extra":1}"#,
        )
        .unwrap();
        assert_eq!(s.customer.id(), "cus_1");
        let s: Subscription = serde_json::from_str(
            r#"{"id":"sub_1","customer":{"id":"cus_2"},"status":"trialing","items":{"data":[]}}"#,
        )
        .unwrap();
        assert_eq!(s.customer.id(), "cus_2");
    }

    #[test]
    fn a_subscriptions_facts_are_its_items_prices_and_products() {
        let s: Subscription = serde_json::from_str(
            r#"{"id":"sub_1","customer":"cus_1","status":"past_due","items":{"data":[
                {"id":"si_1","price":{"id":"price_pro","product":"prod_1"}},
                {"id":"si_2","plan":{"id":"plan_old","product":{"id":"prod_2"}}},
                {"id":"si_3"}]}}"#,
        )
        .unwrap();
        let f = s.facts();
        assert_eq!((f.id.as_str(), f.status.as_str()), ("sub_1", "past_due"));
        let items: Vec<_> = f
            .items
            .iter()
            .map(|i| (i.price.as_deref(), i.product.as_deref()))
            .collect();
        assert_eq!(
            items,
            vec![
                (Some("price_pro"), Some("prod_1")),
                (Some("plan_old"), Some("prod_2")),
                (None, None)
            ]
        );
    }
}
