//! Token-bucket rate limiting (SPEC §2). Pure arithmetic; the `RateLimiter` Durable Object keeps
//! one bucket per key or client IP in its storage so the limit holds across isolates.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub tokens: f64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    /// Whole seconds until one request would be allowed (0 when allowed).
    pub retry_after_secs: u32,
}

/// Takes one token from a bucket holding at most `per_minute` tokens that refills at
/// `per_minute` tokens per minute. A missing bucket is full.
pub fn take(bucket: Option<Bucket>, per_minute: u32, now_ms: i64) -> (Bucket, Decision) {
    let capacity = f64::from(per_minute.max(1));
    let rate_per_ms = capacity / 60_000.0;
    let mut b = bucket.unwrap_or(Bucket {
        tokens: capacity,
        updated_ms: now_ms,
    });
    let elapsed = (now_ms - b.updated_ms).max(0) as f64;
    b.tokens = (b.tokens + elapsed * rate_per_ms).min(capacity);
    b.updated_ms = now_ms.max(b.updated_ms);
    if b.tokens >= 1.0 {
        b.tokens -= 1.0;
        (
            b,
            Decision {
                allowed: true,
                retry_after_secs: 0,
            },
        )
    } else {
        let wait_ms = (1.0 - b.tokens) / rate_per_ms;
        let secs = (wait_ms / 1000.0).ceil().max(1.0) as u32;
        (
            b,
            Decision {
                allowed: false,
                retry_after_secs: secs,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_allows_exactly_its_capacity_at_once() {
        let mut b = None;
        let mut allowed = 0;
        for _ in 0..100 {
            let (nb, d) = take(b, 60, 1_000);
            b = Some(nb);
            if d.allowed {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 60);
    }

    #[test]
    fn a_refused_request_says_when_to_retry_and_tokens_come_back() {
        let mut b = None;
        for _ in 0..6 {
            b = Some(take(b, 6, 0).0);
        }
        let (nb, d) = take(b, 6, 0);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs, 10); // 6/min = one token every 10 s
        let (_, d) = take(Some(nb), 6, 10_000);
        assert!(d.allowed);
    }

    #[test]
    fn a_clock_going_backwards_never_adds_tokens() {
        let (b, _) = take(None, 1, 60_000);
        let (_, d) = take(Some(b), 1, 0);
        assert!(!d.allowed);
    }
}
