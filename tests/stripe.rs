//! The read-only Stripe connector: against a real `localstripe` server (started and filled by
//! `scripts/stripe.sh`, which `npm test` runs), plus a scripted transport for the faults a real
//! server cannot be made to produce (429 storms, 5xx, garbage, timeouts).

use parityrail::domain::vault::Secret;
use parityrail::stripe::{
    HttpGet, HttpResponse, RetryPolicy, StripeClient, StripeError, TransportError,
};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Plain HTTP GET over ureq (tests only).
struct Ureq;

impl HttpGet for Ureq {
    async fn get(
        &self,
        url: &str,
        bearer: &str,
        timeout_ms: u32,
    ) -> Result<HttpResponse, TransportError> {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_millis(u64::from(timeout_ms)))
            .build();
        let res = match agent
            .get(url)
            .set("Authorization", &format!("Bearer {bearer}"))
            .call()
        {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => {
                return Err(if t.to_string().contains("timed out") {
                    TransportError::Timeout
                } else {
                    TransportError::Unreachable
                })
            }
        };
        let status = res.status();
        let retry_after_secs = res.header("retry-after").and_then(|v| v.parse().ok());
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut res.into_reader(), &mut body)
            .map_err(|_| TransportError::Unreachable)?;
        Ok(HttpResponse {
            status,
            body,
            retry_after_secs,
        })
    }

    async fn sleep(&self, ms: u32) {
        tokio::time::sleep(Duration::from_millis(u64::from(ms))).await;
    }
}

fn localstripe(key: &str) -> StripeClient<Ureq> {
    let base = std::env::var("PR_STRIPE_BASE")
        .expect("PR_STRIPE_BASE is not set: run the tests with `npm test`");
    StripeClient::new(
        Ureq,
        &base,
        Secret::new(key.into()),
        RetryPolicy {
            attempts: 2,
            base_delay_ms: 10,
            ..Default::default()
        },
    )
}

fn fill() -> Value {
    let path = std::env::var("PR_STRIPE_FILL").expect("PR_STRIPE_FILL");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn every_customer_is_listed_page_by_page_with_limit_100() {
    let c = localstripe("sk_test_parityrail");
    let all = c.all_customers().await.unwrap();
    let expected: HashSet<String> = fill()["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_owned())
        .collect();
    let got: HashSet<String> = all.iter().map(|x| x.id.clone()).collect();
    assert_eq!(got, expected);
    assert_eq!(c.requests() as usize, expected.len().div_ceil(100));
}

#[tokio::test]
async fn subscriptions_of_every_status_are_read_with_their_legacy_plan_items() {
    let c = localstripe("sk_test_parityrail");
    let subs = c.all_subscriptions().await.unwrap();
    let mut expected: HashMap<String, (String, String, String)> = HashMap::new();
    for cus in fill()["customers"].as_array().unwrap() {
        for s in cus["subscriptions"].as_array().unwrap() {
            let v = |k: &str| s[k].as_str().unwrap().to_owned();
            expected.insert(v("id"), (v("status"), v("plan"), v("product")));
        }
    }
    assert_eq!(subs.len(), expected.len());
    for s in &subs {
        let (status, plan, product) = &expected[&s.id];
        assert_eq!(&s.status, status);
        assert_eq!(s.items.data[0].price_id(), Some(plan.as_str()));
        assert_eq!(s.items.data[0].product_id(), Some(product.as_str()));
    }
    assert!(
        subs.iter().any(|s| s.status == "canceled") && subs.iter().any(|s| s.status == "active")
    );
}

#[tokio::test]
async fn one_customers_subscriptions_and_the_products_are_read() {
    let c = localstripe("sk_test_parityrail");
    let f = fill();
    let first = &f["customers"][0];
    let subs = c
        .subscriptions_of(first["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(
        subs[0].id,
        first["subscriptions"][0]["id"].as_str().unwrap()
    );
    let products = c.all_products().await.unwrap();
    let ids: HashSet<&str> = products.iter().map(|p| p.id.as_str()).collect();
    for p in f["products"].as_array().unwrap() {
        assert!(ids.contains(p.as_str().unwrap()));
    }
}

#[tokio::test]
async fn a_rejected_key_is_unauthorized_and_not_retried() {
    let c = localstripe("rk_test_not_accepted_by_localstripe");
    assert_eq!(
        c.customers_page(None).await.err(),
        Some(StripeError::Unauthorized)
    );
    assert_eq!(c.requests(), 1);
}

#[tokio::test]
async fn an_account_the_key_cannot_read_is_none() {
    // localstripe has no /v1/account; a restricted key without that permission gets 403.
    assert_eq!(localstripe("sk_test_parityrail").account().await, Ok(None));
}

/// Scripted responses, recorded sleeps.
struct Script {
    responses: RefCell<Vec<Result<HttpResponse, TransportError>>>,
    sleeps: RefCell<Vec<u32>>,
    urls: RefCell<Vec<String>>,
}

/// `(status, body, Retry-After)` or a transport failure.
type Step<'a> = Result<(u16, &'a str, Option<u32>), TransportError>;

fn script(items: Vec<Step>) -> Script {
    let mut responses: Vec<_> = items
        .into_iter()
        .map(|r| {
            r.map(|(status, body, ra)| HttpResponse {
                status,
                body: body.as_bytes().to_vec(),
                retry_after_secs: ra,
            })
        })
        .collect();
    responses.reverse();
    Script {
        responses: RefCell::new(responses),
        sleeps: RefCell::new(vec![]),
        urls: RefCell::new(vec![]),
    }
}

impl HttpGet for &Script {
    async fn get(
        &self,
        url: &str,
        _bearer: &str,
        _timeout_ms: u32,
    ) -> Result<HttpResponse, TransportError> {
        self.urls.borrow_mut().push(url.to_owned());
        self.responses
            .borrow_mut()
            .pop()
            .expect("more requests than scripted")
    }
    async fn sleep(&self, ms: u32) {
        self.sleeps.borrow_mut().push(ms);
    }
}

fn scripted(s: &Script) -> StripeClient<&Script> {
    StripeClient::new(
        s,
        "https://stripe.test/",
        Secret::new("sk_test_x".into()),
        RetryPolicy::default(),
    )
}

const EMPTY: &str = r#"{"object":"list","data":[],"has_more":false}"#;

#[tokio::test]
async fn a_429_storm_gives_up_after_the_attempts_honouring_retry_after() {
    let s = script(vec![Ok((429, "{}", Some(2))); 5]);
    assert_eq!(
        scripted(&s).customers_page(None).await.err(),
        Some(StripeError::RateLimited)
    );
    assert_eq!(s.urls.borrow().len(), 5);
    let sleeps = s.sleeps.borrow();
    assert_eq!(sleeps.len(), 4);
    assert!(sleeps.iter().all(|&ms| ms >= 2000), "{sleeps:?}");
}

#[tokio::test]
async fn transient_failures_are_retried_with_growing_backoff_until_success() {
    let s = script(vec![
        Ok((500, "oops", None)),
        Err(TransportError::Unreachable),
        Ok((503, "", None)),
        Ok((200, EMPTY, None)),
    ]);
    let c = scripted(&s);
    assert!(c.customers_page(None).await.unwrap().data.is_empty());
    assert_eq!(c.requests(), 4);
    let sleeps = s.sleeps.borrow();
    assert_eq!(sleeps.len(), 3);
    assert!(sleeps[2] > sleeps[0], "{sleeps:?}");
}

#[tokio::test]
async fn malformed_json_is_an_error_not_a_panic() {
    for body in [
        "not json",
        r#"{"data": "nope"}"#,
        r#"{"object":"list","data":[{"no_id":1}]}"#,
        "",
    ] {
        let s = script(vec![Ok((200, body, None))]);
        assert_eq!(
            scripted(&s).customers_page(None).await.err(),
            Some(StripeError::Malformed),
            "{body}"
        );
    }
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let s = script(vec![Err(TransportError::Timeout); 5]);
    assert_eq!(
        scripted(&s).customers_page(None).await.err(),
        Some(StripeError::Timeout)
    );
}

#[tokio::test]
async fn pagination_sends_limit_and_starting_after() {
    let page1 = r#"{"data":[{"id":"cus_a"},{"id":"cus_b"}],"has_more":true}"#;
    let page2 = r#"{"data":[{"id":"cus_c"}],"has_more":false}"#;
    let s = script(vec![Ok((200, page1, None)), Ok((200, page2, None))]);
    let c = scripted(&s);
    let all = c.all_customers().await.unwrap();
    assert_eq!(
        all.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        ["cus_a", "cus_b", "cus_c"]
    );
    assert_eq!(
        *s.urls.borrow(),
        [
            "https://stripe.test/v1/customers?limit=100",
            "https://stripe.test/v1/customers?limit=100&starting_after=cus_b"
        ]
    );
}

#[tokio::test]
async fn active_entitlements_are_listed_by_lookup_key() {
    let body = r#"{"object":"list","data":[{"id":"ent_1","object":"entitlements.active_entitlement","feature":"feat_1","lookup_key":"sso","livemode":false}],"has_more":false}"#;
    let s = script(vec![Ok((200, body, None))]);
    let e = scripted(&s).active_entitlements("cus_1").await.unwrap();
    assert_eq!(e[0].lookup_key, "sso");
    assert_eq!(
        s.urls.borrow()[0],
        "https://stripe.test/v1/entitlements/active_entitlements?limit=100&customer=cus_1"
    );
}
