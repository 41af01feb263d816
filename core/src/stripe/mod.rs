//! The read-only Stripe connector (SPEC §4). `StripeClient` sends requests only through
//! `HttpGet`, a port whose one operation is GET: nothing in this module can create, change or
//! delete anything in Stripe. Lists are paginated with `limit=100` and `starting_after`, and read
//! whole: a subscription's items beyond the page embedded in it are fetched too, and a walk that
//! does not advance or passes `MAX_PAGES` fails instead of looping (`paging`). 429, 5xx, timeouts
//! and dropped connections are retried with exponential backoff and jitter (honouring
//! `Retry-After`); every call has a timeout, and no body over `MAX_BODY_BYTES` is accepted. Runs
//! natively (tests) and on wasm32.

mod error;
pub mod model;
mod paging;

use crate::domain::vault::Secret;
pub use error::{PaginationFault, StripeError, MAX_BODY_BYTES};
use model::{
    Account, ActiveEntitlement, Customer, Event, List, Product, ProductFeature, Subscription,
};
pub use paging::MAX_PAGES;
use paging::{next_cursor, Cursors};
use serde::de::DeserializeOwned;
use std::cell::Cell;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
    /// `Retry-After` in seconds, when the server sent one.
    pub retry_after_secs: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    /// No complete response (status, headers and the whole body) within the timeout.
    Timeout,
    /// Refused, reset, DNS, TLS: nothing usable came back.
    Unreachable,
    /// The body is longer than `MAX_BODY_BYTES` (declared or read). Not retried.
    TooLarge,
}

/// The only way the connector reaches the network.
#[allow(async_fn_in_trait)]
pub trait HttpGet {
    /// Sends `GET url` with `Authorization: Bearer <bearer>` and reads the response, body
    /// included, giving up after `timeout_ms` in all: the body is read inside the timeout, not
    /// after it (`Timeout`). Reading stops at `MAX_BODY_BYTES`: a larger `Content-Length`, or a
    /// body that grows past the cap while streaming, is `TooLarge`, and no more of it is read.
    /// An implementation never hands back a body longer than `MAX_BODY_BYTES`.
    async fn get(
        &self,
        url: &str,
        bearer: &str,
        timeout_ms: u32,
    ) -> Result<HttpResponse, TransportError>;
    async fn sleep(&self, ms: u32);
    /// Milliseconds on a clock that only moves forward (the platform clock at the edge): what
    /// a list walk's time budget is measured on.
    fn now_ms(&self) -> u64;
}

/// What one list walk (a whole list, or one subscription's items) may cost at most, besides
/// its page cap: the response bytes it reads (so a large account cannot exhaust the isolate's
/// memory) and its wall-clock time, retries and back-offs included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkBudget {
    pub max_bytes: u64,
    pub max_ms: u64,
}

impl Default for WalkBudget {
    fn default() -> Self {
        WalkBudget {
            max_bytes: 32 * 1024 * 1024,
            max_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay_ms: u32,
    pub max_delay_ms: u32,
    pub timeout_ms: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay_ms: 250,
            max_delay_ms: 8_000,
            timeout_ms: 10_000,
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `n` (0-based): exponential, capped, with up to 50% jitter; a
    /// server's `Retry-After` wins when longer (still capped).
    pub fn delay_ms(&self, n: u32, retry_after_secs: Option<u32>, jitter: u8) -> u32 {
        let exp = self
            .base_delay_ms
            .saturating_mul(1u32 << n.min(16))
            .min(self.max_delay_ms);
        let with_jitter = exp / 2 + (exp / 2) * u32::from(jitter) / 255;
        let server = retry_after_secs
            .map_or(0, |s| s.saturating_mul(1000))
            .min(self.max_delay_ms);
        with_jitter.max(server)
    }
}

pub const PAGE_LIMIT: u32 = 100;

pub struct StripeClient<H> {
    http: H,
    base: String,
    key: Secret,
    policy: RetryPolicy,
    page_cap: u32,
    budget: WalkBudget,
    bytes_read: Cell<u64>,
    requests: Cell<u32>,
    last_retry_after: Cell<Option<u32>>,
}

/// One page of a Stripe list and the cursor for the next.
pub struct Page<T> {
    pub data: Vec<T>,
    pub next: Option<String>,
}

impl<H: HttpGet> StripeClient<H> {
    pub fn new(http: H, base: &str, key: Secret, policy: RetryPolicy) -> Self {
        StripeClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key,
            policy,
            page_cap: MAX_PAGES,
            budget: WalkBudget::default(),
            bytes_read: Cell::new(0),
            requests: Cell::new(0),
            last_retry_after: Cell::new(None),
        }
    }

    /// Lowers (or raises) the pages one list walk may read before it fails with
    /// `PaginationFault::PageCap`; `MAX_PAGES` by default, at least 1.
    pub fn with_page_cap(mut self, pages: u32) -> Self {
        self.page_cap = pages.max(1);
        self
    }

    /// Sets what one list walk may cost (bytes read, wall-clock time); see `WalkBudget`.
    pub fn with_walk_budget(mut self, budget: WalkBudget) -> Self {
        self.budget = budget;
        self
    }

    /// HTTP requests sent so far (retries included): the reconcile cost figure.
    pub fn requests(&self) -> u32 {
        self.requests.get()
    }

    /// The account the key belongs to; `None` when the key may not read it (restricted keys).
    pub async fn account(&self) -> Result<Option<Account>, StripeError> {
        match self.get_json::<Account>("/v1/account").await {
            Ok(a) => Ok(Some(a)),
            Err(StripeError::Forbidden | StripeError::Client(404)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One customer; `None` when Stripe has no such customer (404) or it was deleted.
    pub async fn customer(&self, id: &str) -> Result<Option<Customer>, StripeError> {
        match self
            .get_json::<Customer>(&format!("/v1/customers/{}", encode(id)))
            .await
        {
            Ok(c) if c.deleted => Ok(None),
            Ok(c) => Ok(Some(c)),
            Err(StripeError::Client(404)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn customers_page(
        &self,
        starting_after: Option<&str>,
    ) -> Result<Page<Customer>, StripeError> {
        self.page("/v1/customers", &[], starting_after).await
    }

    /// Subscriptions of every status (`status=all`), optionally of one customer, each with all
    /// its items (see `complete_items`).
    pub async fn subscriptions_page(
        &self,
        customer: Option<&str>,
        starting_after: Option<&str>,
    ) -> Result<Page<Subscription>, StripeError> {
        let mut q = vec![("status", "all")];
        if let Some(c) = customer {
            q.push(("customer", c));
        }
        let mut page: Page<Subscription> =
            self.page("/v1/subscriptions", &q, starting_after).await?;
        for sub in &mut page.data {
            self.complete_items(sub).await?;
        }
        Ok(page)
    }

    /// A subscription embeds only the first page of its items; when that page says `has_more`,
    /// the rest is listed from `/v1/subscription_items` after the last embedded item and
    /// appended, so `items.data` is whole and `items.has_more` is false.
    async fn complete_items(&self, sub: &mut Subscription) -> Result<(), StripeError> {
        let Some(last) = next_cursor(&sub.items)? else {
            return Ok(());
        };
        let id = sub.id.as_str();
        let rest = self
            .walk(Some(last), |after| async move {
                self.page(
                    "/v1/subscription_items",
                    &[("subscription", id)],
                    after.as_deref(),
                )
                .await
            })
            .await?;
        sub.items.data.extend(rest);
        sub.items.has_more = false;
        Ok(())
    }

    pub async fn products_page(
        &self,
        starting_after: Option<&str>,
    ) -> Result<Page<Product>, StripeError> {
        self.page("/v1/products", &[], starting_after).await
    }

    pub async fn all_customers(&self) -> Result<Vec<Customer>, StripeError> {
        self.all(|after| async move { self.customers_page(after.as_deref()).await })
            .await
    }

    pub async fn all_subscriptions(&self) -> Result<Vec<Subscription>, StripeError> {
        self.all(|after| async move { self.subscriptions_page(None, after.as_deref()).await })
            .await
    }

    pub async fn all_products(&self) -> Result<Vec<Product>, StripeError> {
        self.all(|after| async move { self.products_page(after.as_deref()).await })
            .await
    }

    /// Every subscription of one customer (all pages).
    pub async fn subscriptions_of(&self, customer: &str) -> Result<Vec<Subscription>, StripeError> {
        self.all(|after| async move {
            self.subscriptions_page(Some(customer), after.as_deref())
                .await
        })
        .await
    }

    /// The customer's active entitlements, re-listed from Stripe (never trusted from a webhook).
    pub async fn active_entitlements(
        &self,
        customer: &str,
    ) -> Result<Vec<ActiveEntitlement>, StripeError> {
        self.all(|after| async move {
            self.page(
                "/v1/entitlements/active_entitlements",
                &[("customer", customer)],
                after.as_deref(),
            )
            .await
        })
        .await
    }

    /// One page of the events created in `[since, upto]` (unix seconds), from the Events API
    /// (Stripe keeps 30 days).
    pub async fn events_page(
        &self,
        since: i64,
        upto: i64,
        starting_after: Option<&str>,
    ) -> Result<Page<Event>, StripeError> {
        let (since, upto) = (since.to_string(), upto.to_string());
        let q = [
            ("created[gte]", since.as_str()),
            ("created[lte]", upto.as_str()),
        ];
        self.page("/v1/events", &q, starting_after).await
    }

    /// The lookup keys of the features attached to `product` (all pages); `None` when this
    /// Stripe API has no product-features endpoint (404: localstripe), so none are known.
    pub async fn product_features(
        &self,
        product: &str,
    ) -> Result<Option<Vec<String>>, StripeError> {
        let path = format!("/v1/products/{}/features", encode(product));
        let listed = self
            .all(|after| {
                let path = path.clone();
                async move {
                    self.page::<ProductFeature>(&path, &[], after.as_deref())
                        .await
                }
            })
            .await;
        match listed {
            Ok(list) => Ok(Some(
                list.into_iter()
                    .map(|f| f.entitlement_feature.lookup_key)
                    .collect(),
            )),
            Err(StripeError::Client(404)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Follows `next` from the first page until the list ends; fails with
    /// `StripeError::Pagination` when a cursor repeats or the page cap is reached.
    pub async fn all<T, F, Fut>(&self, page: F) -> Result<Vec<T>, StripeError>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: std::future::Future<Output = Result<Page<T>, StripeError>>,
    {
        self.walk(None, page).await
    }

    /// `all`, starting after `start` when given (which then counts as used).
    async fn walk<T, F, Fut>(
        &self,
        start: Option<String>,
        mut page: F,
    ) -> Result<Vec<T>, StripeError>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: std::future::Future<Output = Result<Page<T>, StripeError>>,
    {
        let mut cursors = Cursors::new(self.page_cap, start.as_deref());
        let mut out = Vec::new();
        let mut after = start;
        let (started_ms, started_bytes) = (self.http.now_ms(), self.bytes_read.get());
        loop {
            let p = page(after.take()).await?;
            out.extend(p.data);
            if self.bytes_read.get().saturating_sub(started_bytes) > self.budget.max_bytes {
                return Err(StripeError::Pagination(PaginationFault::TooMuchData));
            }
            if self.http.now_ms().saturating_sub(started_ms) > self.budget.max_ms {
                return Err(StripeError::Pagination(PaginationFault::TooSlow));
            }
            match cursors.advance(p.next)? {
                Some(n) => after = Some(n),
                None => return Ok(out),
            }
        }
    }

    async fn page<T: DeserializeOwned + model::HasId>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        starting_after: Option<&str>,
    ) -> Result<Page<T>, StripeError> {
        let mut q = format!("{path}?limit={PAGE_LIMIT}");
        for (k, v) in query {
            q.push_str(&format!("&{k}={}", encode(v)));
        }
        if let Some(a) = starting_after {
            q.push_str(&format!("&starting_after={}", encode(a)));
        }
        let list: List<T> = self.get_json(&q).await?;
        let next = next_cursor(&list)?;
        Ok(Page {
            data: list.data,
            next,
        })
    }

    /// One GET through the retry loop: transient failures are retried with backoff until the
    /// attempts run out; anything else ends it at once.
    async fn get_json<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T, StripeError> {
        let url = format!("{}{}", self.base, path_and_query);
        let mut last = StripeError::Unreachable;
        for attempt in 0..self.policy.attempts.max(1) {
            if attempt > 0 {
                self.back_off(attempt - 1, last).await;
            }
            match self.send(&url).await {
                Ok(body) => {
                    return serde_json::from_slice(&body).map_err(|_| StripeError::Malformed)
                }
                Err(e) if e.is_transient() => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Sleeps before retry number `n`, honouring the last `Retry-After` after a 429.
    async fn back_off(&self, n: u32, last: StripeError) {
        let mut j = [0u8; 1];
        let _ = getrandom::getrandom(&mut j);
        let retry_after = match last {
            StripeError::RateLimited => self.last_retry_after.get(),
            _ => None,
        };
        self.http
            .sleep(self.policy.delay_ms(n, retry_after, j[0]))
            .await;
    }

    /// One request, counted: the body of a 2xx, or the error its outcome stands for.
    async fn send(&self, url: &str) -> Result<Vec<u8>, StripeError> {
        self.requests.set(self.requests.get().saturating_add(1));
        let res = self
            .http
            .get(url, self.key.expose(), self.policy.timeout_ms)
            .await
            .map_err(|e| match e {
                TransportError::Timeout => StripeError::Timeout,
                TransportError::Unreachable => StripeError::Unreachable,
                TransportError::TooLarge => StripeError::TooLarge,
            })?;
        if res.body.len() > MAX_BODY_BYTES {
            return Err(StripeError::TooLarge);
        }
        self.bytes_read
            .set(self.bytes_read.get().saturating_add(res.body.len() as u64));
        match res.status {
            200..=299 => Ok(res.body),
            429 => {
                self.last_retry_after.set(res.retry_after_secs);
                Err(StripeError::RateLimited)
            }
            500..=599 => Err(StripeError::Server(res.status)),
            401 => Err(StripeError::Unauthorized),
            403 => Err(StripeError::Forbidden),
            s => Err(StripeError::Client(s)),
        }
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
