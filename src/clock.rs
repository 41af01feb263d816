//! Time on the platform: the clock, and the deadline every call out of the worker runs under.

use parityrail_core::domain::time::Timestamp;

/// The platform clock.
pub fn clock() -> Timestamp {
    Timestamp::from_millis(worker::Date::now().as_millis() as i64)
}

/// `fut`'s output, or `None` once `ms` milliseconds passed without it: every call out of the
/// worker (Stripe, PostgreSQL, a Durable Object) has a deadline, so no request and no cron tick
/// waits on one for ever.
pub async fn within<F: std::future::Future>(ms: u64, fut: F) -> Option<F::Output> {
    use futures_util::future::{select, Either};
    let timer = Box::pin(worker::Delay::from(std::time::Duration::from_millis(ms)));
    match select(Box::pin(fut), timer).await {
        Either::Left((out, _)) => Some(out),
        Either::Right(_) => None,
    }
}
