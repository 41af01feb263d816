//! Services built from the Worker `Env` alone — D1, the vault keyring and sealer, the Stripe and
//! Postgres connector factories, the clock, randomness, the project coordinator and the rate
//! limiter — so the fetch handler, the cron handler and a Durable Object's `alarm()` build and
//! use the same things. Nothing here knows about a request: request-bound facts (request id,
//! client bucket) live in `http::RequestMeta`.

use super::connectors::{pg_read, pg_repair, WorkerHttp, WorkerTimer};
use crate::clock::{clock, within};
use parityrail_core::domain::integrations::DbUrl;
use parityrail_core::domain::ports::OsRng;
use parityrail_core::domain::ratelimit::Decision;
use parityrail_core::domain::time::Timestamp;
use parityrail_core::domain::vault::{Keyring, Secret};
use parityrail_core::fault::{Fallible, Fault};
use parityrail_core::pg::{self, PgError};
use parityrail_core::stripe::{RetryPolicy, StripeClient};
use worker::{D1Database, Env};

/// The deadline of a rate limiter's answer (limits fail closed past it).
pub const LIMITER_MS: u64 = 5_000;
/// Calls to the rate limiter before its refusal is the answer.
const LIMITER_ATTEMPTS: u32 = 2;

pub struct Services {
    env: Env,
    /// The clock, read once per unit of work (a request, a cron run, an alarm).
    pub now: Timestamp,
}

impl Services {
    pub fn new(env: Env) -> Self {
        Services { env, now: clock() }
    }

    /// A plain-text variable (wrangler `[vars]` or a secret), if set and non-empty.
    pub fn var(&self, name: &str) -> Option<String> {
        self.env
            .secret(name)
            .map(|s| s.to_string())
            .or_else(|_| self.env.var(name).map(|v| v.to_string()))
            .ok()
            .filter(|s| !s.is_empty())
    }

    pub fn var_u32(&self, name: &str, default: u32) -> u32 {
        self.var(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    pub fn rng(&self) -> OsRng {
        OsRng
    }

    /// Raw D1, unscoped. Only the auth layer can call this (only it can make a `RawDb`): every
    /// other module reaches D1 through a `Tenant` or `ProjectHandle` that auth hands out.
    pub fn db(&self, _: &crate::auth::grants::RawDb) -> Fallible<D1Database> {
        self.env
            .d1("DB")
            .map_err(|e| Fault::internal(format!("D1 binding: {e}")))
    }

    /// The master keys from `CREDENTIALS_ENCRYPTION_KEY`.
    pub fn keyring(&self) -> Fallible<Keyring> {
        let spec = self
            .var("CREDENTIALS_ENCRYPTION_KEY")
            .ok_or_else(|| Fault::internal("CREDENTIALS_ENCRYPTION_KEY is not set"))?;
        Keyring::parse(&spec).map_err(|e| Fault::internal(e.to_string()))
    }

    /// The read-only Stripe client for `key` (`STRIPE_API_BASE`, retry and timeout variables).
    pub fn stripe(&self, key: Secret) -> StripeClient<WorkerHttp> {
        let base = self
            .var("STRIPE_API_BASE")
            .unwrap_or_else(|| "https://api.stripe.com".to_owned());
        let d = RetryPolicy::default();
        let policy = RetryPolicy {
            attempts: self.var_u32("STRIPE_RETRY_ATTEMPTS", d.attempts),
            base_delay_ms: self.var_u32("STRIPE_RETRY_BASE_MS", d.base_delay_ms),
            max_delay_ms: self.var_u32("STRIPE_RETRY_MAX_MS", d.max_delay_ms),
            timeout_ms: self.var_u32("STRIPE_TIMEOUT_MS", d.timeout_ms),
        };
        StripeClient::new(WorkerHttp, &base, key, policy)
    }

    /// A read-only session on the customer's database (`default_transaction_read_only = on`
    /// before the first query), every wait bounded on the client side: `DB_TIMEOUT_MS` for the
    /// handshake, `DB_STATEMENT_TIMEOUT_MS` per statement (also the server's
    /// `statement_timeout`), `DB_SESSION_TIMEOUT_MS` for the whole session.
    pub async fn pg_read(&self, url: &DbUrl) -> Result<pg::ReadSession<WorkerTimer>, PgError> {
        pg_read(url, self.pg_limits()).await
    }

    /// A session on the repair credential, bounded like `pg_read`, whose row locks wait at most
    /// `DB_LOCK_TIMEOUT_MS`.
    pub async fn pg_repair(&self, url: &DbUrl) -> Result<pg::RepairSession<WorkerTimer>, PgError> {
        let lock_ms = self.var_u32("DB_LOCK_TIMEOUT_MS", pg::LOCK_TIMEOUT_MS);
        pg_repair(url, self.pg_limits(), lock_ms).await
    }

    fn pg_limits(&self) -> pg::Limits {
        pg::Limits {
            connect_ms: self.var_u32("DB_TIMEOUT_MS", pg::CONNECT_TIMEOUT_MS),
            statement_ms: self.var_u32("DB_STATEMENT_TIMEOUT_MS", pg::STATEMENT_TIMEOUT_MS),
            session_ms: self.var_u32("DB_SESSION_TIMEOUT_MS", pg::SESSION_TIMEOUT_MS),
        }
    }

    /// The R2 bucket of export bundles and checkpoints.
    pub fn objects(&self) -> Fallible<super::objects::R2Objects> {
        super::objects::R2Objects::new(&self.env).map_err(|e| Fault::internal(e.to_string()))
    }

    /// The namespace of the `ProjectCoordinator` Durable Objects (one per project, named by its
    /// id); reached only through `coordinator::client`.
    pub fn coordinators(&self) -> worker::Result<worker::ObjectNamespace> {
        self.env.durable_object("PROJECT_COORDINATOR")
    }

    /// One operation on the `RateLimiter` object of `bucket`. When the limiter cannot be reached
    /// the answer is `Fault::LimiterUnavailable` (a `503`): limits fail closed, never open.
    pub async fn limiter(&self, bucket: &str, op: &str) -> Fallible<Decision> {
        self.limiter_call(bucket, op).await
    }

    /// `limiter` for operations whose answer carries more than a `Decision`. A call the
    /// object refuses transiently (a Durable Object starting or reset under a burst of requests)
    /// is tried once more before the answer is a `503`; one that finds no answer in time is not.
    pub async fn limiter_call<T: serde::de::DeserializeOwned>(
        &self,
        bucket: &str,
        op: &str,
    ) -> Fallible<T> {
        let call = || async {
            let stub = self
                .env
                .durable_object("RATE_LIMITER")?
                .id_from_name(bucket)?
                .get_stub()?;
            let mut res = stub
                .fetch_with_str(&format!("https://rate-limiter/{op}"))
                .await?;
            res.json::<T>().await
        };
        let mut last = String::new();
        for attempt in 0..LIMITER_ATTEMPTS {
            if attempt > 0 {
                worker::Delay::from(std::time::Duration::from_millis(50)).await;
            }
            match within(LIMITER_MS, call()).await {
                Some(Ok(answer)) => return Ok(answer),
                Some(Err(e)) => last = e.to_string(),
                None => {
                    return Err(Fault::LimiterUnavailable(
                        "rate limiter: no answer in time".into(),
                    ))
                }
            }
        }
        Err(Fault::LimiterUnavailable(format!("rate limiter: {last}")))
    }
}
