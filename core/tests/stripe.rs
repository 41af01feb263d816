//! The read-only Stripe connector: against a real `localstripe` server (started and filled by
//! `scripts/stripe.sh`, which `npm test` runs), plus a scripted transport for the faults a real
//! server cannot be made to produce (429 storms, 5xx, garbage, timeouts, lists that do not end,
//! oversized bodies).

use parityrail_core::domain::vault::Secret;
use parityrail_core::stripe::{
    HttpGet, HttpResponse, PaginationFault, RetryPolicy, StripeClient, StripeError, TransportError,
    WalkBudget, MAX_BODY_BYTES, MAX_PAGES,
};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::time::Duration;

/// Plain HTTP GET over ureq (tests only). ureq's timeout covers the whole exchange, body
/// included; the body is read up to one byte past `MAX_BODY_BYTES` and refused if it got there.
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
        let declared = res
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(TransportError::TooLarge);
        }
        let mut body = Vec::new();
        let limit = MAX_BODY_BYTES as u64 + 1;
        res.into_reader()
            .take(limit)
            .read_to_end(&mut body)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::TimedOut {
                    TransportError::Timeout
                } else {
                    TransportError::Unreachable
                }
            })?;
        if body.len() > MAX_BODY_BYTES {
            return Err(TransportError::TooLarge);
        }
        Ok(HttpResponse {
            status,
            body,
            retry_after_secs,
        })
    }

    async fn sleep(&self, ms: u32) {
        tokio::time::sleep(Duration::from_millis(u64::from(ms))).await;
    }

    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
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

/// Scripted responses, recorded sleeps; its clock is the sum of the sleeps plus `latency_ms` for
/// every request (simulated time).
struct Script {
    latency_ms: Cell<u64>,
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
        latency_ms: Cell::new(0),
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

    fn now_ms(&self) -> u64 {
        let slept: u64 = self.sleeps.borrow().iter().map(|&ms| u64::from(ms)).sum();
        slept + self.latency_ms.get() * self.urls.borrow().len() as u64
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

fn urls(s: &Script) -> Vec<String> {
    s.urls.borrow().clone()
}

fn ids(items: &[parityrail_core::stripe::model::SubscriptionItem]) -> Vec<&str> {
    items.iter().map(|i| i.id.as_str()).collect()
}

/// A subscriptions page: `sub_1` embeds two of its five items (`has_more`), `sub_2` embeds its
/// only one.
const SUBS: &str = r#"{"object":"list","data":[
  {"id":"sub_1","customer":"cus_1","status":"active","items":{"object":"list",
   "data":[{"id":"si_1"},{"id":"si_2"}],"has_more":true,"url":"/v1/subscription_items?subscription=sub_1"}},
  {"id":"sub_2","customer":"cus_1","status":"active","items":{"object":"list",
   "data":[{"id":"si_9"}],"has_more":false,"url":"/v1/subscription_items?subscription=sub_2"}}
],"has_more":false}"#;
const ITEMS_3_4: &str = r#"{"object":"list","data":[{"id":"si_3","price":{"id":"price_3"}},{"id":"si_4"}],"has_more":true}"#;
const ITEMS_5: &str = r#"{"object":"list","data":[{"id":"si_5"}],"has_more":false}"#;

#[tokio::test]
async fn subscription_items_beyond_the_embedded_page_are_fetched_and_appended() {
    let s = script(vec![
        Ok((200, SUBS, None)),
        Ok((200, ITEMS_3_4, None)),
        Ok((200, ITEMS_5, None)),
    ]);
    let c = scripted(&s);
    let subs = c.all_subscriptions().await.unwrap();
    assert_eq!(
        urls(&s),
        [
            "https://stripe.test/v1/subscriptions?limit=100&status=all",
            "https://stripe.test/v1/subscription_items?limit=100&subscription=sub_1&starting_after=si_2",
            "https://stripe.test/v1/subscription_items?limit=100&subscription=sub_1&starting_after=si_4",
        ]
    );
    assert_eq!(subs.len(), 2);
    assert_eq!(
        ids(&subs[0].items.data),
        ["si_1", "si_2", "si_3", "si_4", "si_5"]
    );
    assert!(!subs[0].items.has_more);
    assert_eq!(subs[0].items.data[2].price_id(), Some("price_3"));
    assert_eq!(ids(&subs[1].items.data), ["si_9"]);
    assert_eq!(c.requests(), 3);
}

#[tokio::test]
async fn item_pages_of_one_customers_subscriptions_are_retried_and_counted() {
    let s = script(vec![
        Ok((200, SUBS, None)),
        Ok((503, "", None)),
        Ok((200, ITEMS_3_4, None)),
        Err(TransportError::Timeout),
        Ok((200, ITEMS_5, None)),
    ]);
    let c = scripted(&s);
    let subs = c.subscriptions_of("cus_1").await.unwrap();
    assert_eq!(ids(&subs[0].items.data).len(), 5);
    assert_eq!(c.requests(), 5);
    assert_eq!(s.sleeps.borrow().len(), 2);
    assert_eq!(
        urls(&s)[0],
        "https://stripe.test/v1/subscriptions?limit=100&status=all&customer=cus_1"
    );
    assert!(urls(&s)[1..]
        .iter()
        .all(|u| u.contains("/v1/subscription_items?")));
}

#[tokio::test]
async fn one_subscriptions_page_is_returned_with_whole_item_lists() {
    let s = script(vec![
        Ok((200, SUBS, None)),
        Ok((200, ITEMS_3_4, None)),
        Ok((200, ITEMS_5, None)),
    ]);
    let page = scripted(&s).subscriptions_page(None, None).await.unwrap();
    assert_eq!(page.data[0].items.data.len(), 5);
    assert_eq!(page.next, None);
}

const STALLED: StripeError = StripeError::Pagination(PaginationFault::Stalled);
const CAPPED: StripeError = StripeError::Pagination(PaginationFault::PageCap);

#[tokio::test]
async fn a_list_whose_cursor_does_not_advance_ends_with_a_pagination_error() {
    let same = r#"{"data":[{"id":"cus_a"},{"id":"cus_b"}],"has_more":true}"#;
    let s = script(vec![Ok((200, same, None)), Ok((200, same, None))]);
    let c = scripted(&s);
    assert_eq!(c.all_customers().await.err(), Some(STALLED));
    assert_eq!(c.requests(), 2);
}

#[tokio::test]
async fn a_list_that_cycles_back_to_an_earlier_cursor_ends_with_a_pagination_error() {
    let a = r#"{"data":[{"id":"cus_a"}],"has_more":true}"#;
    let b = r#"{"data":[{"id":"cus_b"}],"has_more":true}"#;
    let s = script(vec![
        Ok((200, a, None)),
        Ok((200, b, None)),
        Ok((200, a, None)),
    ]);
    assert_eq!(scripted(&s).all_customers().await.err(), Some(STALLED));
    assert_eq!(urls(&s).len(), 3);
}

#[tokio::test]
async fn an_empty_page_that_claims_more_is_a_pagination_error_not_the_end() {
    let first = r#"{"data":[{"id":"cus_a"}],"has_more":true}"#;
    let empty_more = r#"{"data":[],"has_more":true}"#;
    let s = script(vec![Ok((200, first, None)), Ok((200, empty_more, None))]);
    assert_eq!(scripted(&s).all_products().await.err(), Some(STALLED));
    assert_eq!(urls(&s).len(), 2);
    let s = script(vec![Ok((200, empty_more, None))]);
    assert_eq!(scripted(&s).customers_page(None).await.err(), Some(STALLED));
}

#[tokio::test]
async fn item_pages_that_repeat_the_embedded_cursor_end_with_a_pagination_error() {
    let again = r#"{"object":"list","data":[{"id":"si_2"}],"has_more":true}"#;
    let s = script(vec![Ok((200, SUBS, None)), Ok((200, again, None))]);
    let c = scripted(&s);
    assert_eq!(c.all_subscriptions().await.err(), Some(STALLED));
    assert_eq!(c.requests(), 2);
}

/// `n` distinct pages, each claiming another follows.
fn endless(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!(r#"{{"data":[{{"id":"cus_{i}"}}],"has_more":true}}"#))
        .collect()
}

#[tokio::test]
async fn the_page_cap_stops_a_list_that_never_ends() {
    let pages = endless(3);
    let s = script(pages.iter().map(|p| Ok((200, p.as_str(), None))).collect());
    let c = scripted(&s).with_page_cap(3);
    assert_eq!(c.all_customers().await.err(), Some(CAPPED));
    assert_eq!(c.requests(), 3);
    assert_eq!(MAX_PAGES, 10_000);
}

#[tokio::test]
async fn the_page_cap_also_bounds_a_subscriptions_item_pages() {
    let pages: Vec<String> = (3..6)
        .map(|i| format!(r#"{{"data":[{{"id":"si_{i}"}}],"has_more":true}}"#))
        .collect();
    let mut steps: Vec<Step> = vec![Ok((200, SUBS, None))];
    steps.extend(pages.iter().map(|p| Ok((200, p.as_str(), None))));
    let s = script(steps);
    let c = scripted(&s).with_page_cap(3);
    assert_eq!(c.all_subscriptions().await.err(), Some(CAPPED));
    assert_eq!(c.requests(), 4);
}

#[tokio::test]
async fn a_walk_stops_once_it_has_read_more_bytes_than_its_budget() {
    let pages = endless(10);
    let s = script(pages.iter().map(|p| Ok((200, p.as_str(), None))).collect());
    let per_page = pages[0].len() as u64;
    let c = scripted(&s).with_walk_budget(WalkBudget {
        max_bytes: per_page * 3,
        max_ms: u64::MAX,
    });
    assert_eq!(
        c.all_customers().await.err(),
        Some(StripeError::Pagination(PaginationFault::TooMuchData))
    );
    // Three pages fit the budget exactly; the fourth goes over it and ends the walk.
    assert_eq!(c.requests(), 4);
}

#[tokio::test]
async fn a_walk_stops_once_it_has_taken_longer_than_its_budget() {
    let pages = endless(10);
    let s = script(pages.iter().map(|p| Ok((200, p.as_str(), None))).collect());
    s.latency_ms.set(400); // every request takes 400 ms on the script's clock
    let c = scripted(&s).with_walk_budget(WalkBudget {
        max_bytes: u64::MAX,
        max_ms: 1_000,
    });
    assert_eq!(
        c.all_customers().await.err(),
        Some(StripeError::Pagination(PaginationFault::TooSlow))
    );
    assert_eq!(c.requests(), 3);
}

#[tokio::test]
async fn a_list_of_exactly_the_page_cap_is_read_whole() {
    let mut pages = endless(2);
    pages.push(r#"{"data":[{"id":"cus_last"}],"has_more":false}"#.to_owned());
    let s = script(pages.iter().map(|p| Ok((200, p.as_str(), None))).collect());
    let all = scripted(&s).with_page_cap(3).all_customers().await.unwrap();
    assert_eq!(all.len(), 3);
}

#[tokio::test]
async fn an_oversized_body_is_an_error_and_is_not_retried() {
    let big = " ".repeat(MAX_BODY_BYTES + 1);
    for status in [200, 500] {
        let s = script(vec![Ok((status, big.as_str(), None))]);
        let c = scripted(&s);
        assert_eq!(
            c.customers_page(None).await.err(),
            Some(StripeError::TooLarge)
        );
        assert_eq!(c.requests(), 1, "{status}");
    }
    let s = script(vec![Err(TransportError::TooLarge)]);
    let c = scripted(&s);
    assert_eq!(
        c.customers_page(None).await.err(),
        Some(StripeError::TooLarge)
    );
    assert_eq!(c.requests(), 1);
}

#[tokio::test]
async fn a_body_of_exactly_the_cap_is_accepted() {
    let mut body = EMPTY.to_owned();
    body.push_str(&" ".repeat(MAX_BODY_BYTES - EMPTY.len()));
    let s = script(vec![Ok((200, body.as_str(), None))]);
    assert!(scripted(&s)
        .customers_page(None)
        .await
        .unwrap()
        .data
        .is_empty());
}

#[test]
fn pagination_and_size_errors_say_what_happened_and_echo_nothing() {
    assert_eq!(
        STALLED.to_string(),
        "Stripe's list could not be read to its end: the cursor did not advance"
    );
    assert_eq!(
        CAPPED.to_string(),
        "Stripe's list could not be read to its end: the list went on past the page cap"
    );
    assert_eq!(
        StripeError::TooLarge.to_string(),
        format!("Stripe sent a response larger than {MAX_BODY_BYTES} bytes")
    );
}
