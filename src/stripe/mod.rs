//! The read-only Stripe connector (SPEC §4). `StripeClient` sends requests only through
//! `HttpGet`, a port whose one operation is GET: nothing in this module can create, change or
//! delete anything in Stripe. Lists are paginated with `limit=100` and `starting_after`; 429,
//! 5xx, timeouts and dropped connections are retried with exponential backoff and jitter
//! (honouring `Retry-After`); every call has a timeout. Runs natively (tests) and on wasm32.

pub mod model;

use crate::domain::vault::Secret;
use model::{Account, ActiveEntitlement, Customer, List, Product, Subscription};
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
    Timeout,
    /// Refused, reset, DNS, TLS: nothing usable came back.
    Unreachable,
}

/// The only way the connector reaches the network.
#[allow(async_fn_in_trait)]
pub trait HttpGet {
    /// Sends `GET url` with `Authorization: Bearer <bearer>`, giving up after `timeout_ms`.
    async fn get(
        &self,
        url: &str,
        bearer: &str,
        timeout_ms: u32,
    ) -> Result<HttpResponse, TransportError>;
    async fn sleep(&self, ms: u32);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    #[error("Stripe could not be reached")]
    Unreachable,
    #[error("Stripe did not answer in time")]
    Timeout,
    #[error("Stripe rejected the API key")]
    Unauthorized,
    #[error("the API key lacks a permission this read needs")]
    Forbidden,
    #[error("Stripe kept rate limiting the requests")]
    RateLimited,
    #[error("Stripe answered with a server error ({0})")]
    Server(u16),
    #[error("Stripe refused the request ({0})")]
    Client(u16),
    #[error("Stripe sent a response that is not the expected JSON")]
    Malformed,
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
            requests: Cell::new(0),
            last_retry_after: Cell::new(None),
        }
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

    pub async fn customers_page(
        &self,
        starting_after: Option<&str>,
    ) -> Result<Page<Customer>, StripeError> {
        self.page("/v1/customers", &[], starting_after).await
    }

    /// Subscriptions of every status (`status=all`), optionally of one customer.
    pub async fn subscriptions_page(
        &self,
        customer: Option<&str>,
        starting_after: Option<&str>,
    ) -> Result<Page<Subscription>, StripeError> {
        let mut q = vec![("status", "all")];
        if let Some(c) = customer {
            q.push(("customer", c));
        }
        self.page("/v1/subscriptions", &q, starting_after).await
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

    /// Follows `next` until the list ends.
    pub async fn all<T, F, Fut>(&self, mut page: F) -> Result<Vec<T>, StripeError>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: std::future::Future<Output = Result<Page<T>, StripeError>>,
    {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let p = page(after.take()).await?;
            out.extend(p.data);
            match p.next {
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
        let next = if list.has_more {
            list.data.last().map(|x| x.id().to_owned())
        } else {
            None
        };
        Ok(Page {
            data: list.data,
            next,
        })
    }

    async fn get_json<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T, StripeError> {
        let url = format!("{}{}", self.base, path_and_query);
        let mut last = StripeError::Unreachable;
        for attempt in 0..self.policy.attempts.max(1) {
            if attempt > 0 {
                let mut j = [0u8; 1];
                let _ = getrandom::getrandom(&mut j);
                let retry_after = match last {
                    StripeError::RateLimited => self.last_retry_after.get(),
                    _ => None,
                };
                self.http
                    .sleep(self.policy.delay_ms(attempt - 1, retry_after, j[0]))
                    .await;
            }
            self.requests.set(self.requests.get() + 1);
            let res = match self
                .http
                .get(&url, self.key.expose(), self.policy.timeout_ms)
                .await
            {
                Ok(r) => r,
                Err(TransportError::Timeout) => {
                    last = StripeError::Timeout;
                    continue;
                }
                Err(TransportError::Unreachable) => {
                    last = StripeError::Unreachable;
                    continue;
                }
            };
            match res.status {
                200..=299 => {
                    return serde_json::from_slice(&res.body).map_err(|_| StripeError::Malformed)
                }
                429 => {
                    self.last_retry_after.set(res.retry_after_secs);
                    last = StripeError::RateLimited;
                }
                500..=599 => last = StripeError::Server(res.status),
                401 => return Err(StripeError::Unauthorized),
                403 => return Err(StripeError::Forbidden),
                s => return Err(StripeError::Client(s)),
            }
        }
        Err(last)
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
