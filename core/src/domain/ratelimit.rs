//! Rate limiting (SPEC §2), pure arithmetic; the `RateLimiter` Durable Object keeps one state per
//! key or client in its storage so limits hold across isolates.
//!
//! - Keys: a token bucket (`take`), `per_minute` requests a minute.
//! - Clients (by IP, IPv6 by /64): a failure lockout (`Lockout`). Every credential-bearing
//!   request is counted as a failure *before* its credential is evaluated (`attempt`, atomic in
//!   the client's Durable Object) and refunded once it succeeds (`refund`), so parallel guesses
//!   cannot all slip in under the budget. Once a client has `limit` failures in a 60 s window,
//!   every credential-bearing request from it is refused until the window ends. Guessing is
//!   stopped, not just counted.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

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

/// The length of a client's failure window.
pub const LOCKOUT_WINDOW_MS: i64 = 60_000;

/// Failures of one client in its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockout {
    pub window_start_ms: i64,
    pub failures: u32,
    /// Set when the budget ran out: the lockout lasts a full window from then, so a client
    /// cannot spend one budget at the end of a window and the next at the start of the next.
    #[serde(default)]
    pub locked_until_ms: i64,
}

impl Lockout {
    /// Whether a credential from this client may be evaluated at `now_ms`.
    pub fn check(state: Option<Lockout>, limit: u32, now_ms: i64) -> Decision {
        match state {
            Some(l) if l.failures >= limit.max(1) && now_ms < l.end() => Decision {
                allowed: false,
                retry_after_secs: ((l.end() - now_ms + 999) / 1000).max(1) as u32,
            },
            _ => Decision {
                allowed: true,
                retry_after_secs: 0,
            },
        }
    }

    /// Counts one failure at `now_ms` (a new window starts when the last one has ended).
    pub fn fail(state: Option<Lockout>, now_ms: i64) -> Lockout {
        match state {
            Some(l) if now_ms < l.end() && now_ms >= l.window_start_ms => Lockout {
                failures: l.failures.saturating_add(1),
                ..l
            },
            _ => Lockout {
                window_start_ms: now_ms,
                failures: 1,
                locked_until_ms: 0,
            },
        }
    }

    /// Checks and counts one attempt in one step: refused (nothing counted) when the client is
    /// locked out, otherwise counted as a failure until `refund`ed.
    pub fn attempt(state: Option<Lockout>, limit: u32, now_ms: i64) -> (Option<Lockout>, Decision) {
        let d = Lockout::check(state, limit, now_ms);
        if d.allowed {
            let mut next = Lockout::fail(state, now_ms);
            if next.failures >= limit.max(1) {
                next.locked_until_ms = now_ms.saturating_add(LOCKOUT_WINDOW_MS);
            }
            (Some(next), d)
        } else {
            (state, d)
        }
    }

    /// Takes back one attempt counted in the window that started at `window_start_ms` and
    /// turned out to succeed. A refund for an earlier window changes nothing: it can never
    /// erase a failure counted in a later one.
    pub fn refund(state: Option<Lockout>, window_start_ms: i64) -> Option<Lockout> {
        state.map(|l| {
            if l.window_start_ms == window_start_ms {
                Lockout {
                    failures: l.failures.saturating_sub(1),
                    ..l
                }
            } else {
                l
            }
        })
    }

    fn window_end(&self) -> i64 {
        self.window_start_ms.saturating_add(LOCKOUT_WINDOW_MS)
    }

    /// When the current window, or a lockout it ran into, ends.
    fn end(&self) -> i64 {
        self.window_end().max(self.locked_until_ms)
    }
}

/// The limiter bucket a client address belongs to: an IPv4 address itself, an IPv6 address by
/// its /64 (one subscriber typically holds a whole /64), an IPv4-mapped IPv6 address as IPv4.
/// A missing or unparseable address shares the one bucket `ip:unknown` (on Cloudflare every
/// request carries `cf-connecting-ip`; without it, such clients are limited together).
pub fn client_bucket(addr: Option<&str>) -> String {
    let parsed = addr.and_then(|a| a.trim().parse::<IpAddr>().ok());
    match parsed {
        Some(IpAddr::V4(v4)) => format!("ip:{v4}"),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip6:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "ip:unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_over_its_failure_budget_is_locked_out_until_the_window_ends() {
        let mut l = None;
        for i in 0..3 {
            assert!(Lockout::check(l, 3, 1_000 + i).allowed);
            l = Some(Lockout::fail(l, 1_000 + i));
        }
        let d = Lockout::check(l, 3, 1_010);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs, 60);
        assert!(!Lockout::check(l, 3, 60_999).allowed);
        assert!(Lockout::check(l, 3, 61_000).allowed);
        // The next failure opens a fresh window.
        assert_eq!(
            Lockout::fail(l, 61_000),
            Lockout {
                window_start_ms: 61_000,
                failures: 1,
                locked_until_ms: 0
            }
        );
    }

    #[test]
    fn parallel_attempts_cannot_exceed_the_budget_and_successes_are_refunded() {
        // Ten attempts arrive before any outcome is known: only `limit` are let through.
        let mut l = None;
        let mut allowed = 0;
        for _ in 0..10 {
            let (next, d) = Lockout::attempt(l, 3, 1_000);
            l = next;
            allowed += u32::from(d.allowed);
        }
        assert_eq!(allowed, 3);
        // Two of the three succeeded: refunded, so two more attempts fit in the window.
        l = Lockout::refund(Lockout::refund(l, 1_000), 1_000);
        assert!(Lockout::attempt(l, 3, 1_003).1.allowed);
        // A refund never goes below zero and never reaches into a later window.
        assert_eq!(Lockout::refund(None, 0), None);
        let fresh = Some(Lockout {
            window_start_ms: 0,
            failures: 0,
            locked_until_ms: 0,
        });
        assert_eq!(Lockout::refund(fresh, 0).map(|l| l.failures), Some(0));
        let later = Some(Lockout {
            window_start_ms: 60_000,
            failures: 2,
            locked_until_ms: 0,
        });
        assert_eq!(Lockout::refund(later, 0).map(|l| l.failures), Some(2));
    }

    #[test]
    fn a_budget_spent_at_the_end_of_a_window_locks_for_a_full_window_from_then() {
        // One failure opens the window at 0; the rest of the budget goes just before it ends.
        let (mut l, _) = Lockout::attempt(None, 60, 0);
        for _ in 0..59 {
            let (next, d) = Lockout::attempt(l, 60, 59_900);
            assert!(d.allowed);
            l = next;
        }
        // The window of 0 has ended, but the lockout lasts 60 s from 59.9 s: no second budget.
        let (_, d) = Lockout::attempt(l, 60, 60_000);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs, 60);
        assert!(!Lockout::check(l, 60, 119_899).allowed);
        assert!(Lockout::check(l, 60, 119_900).allowed);
    }

    #[test]
    fn a_clock_going_backwards_does_not_extend_or_reuse_a_window() {
        let l = Some(Lockout::fail(None, 100_000));
        assert_eq!(Lockout::fail(l, 50_000).failures, 1);
    }

    #[test]
    fn clients_are_bucketed_by_ipv4_address_and_ipv6_slash_64() {
        assert_eq!(client_bucket(Some("203.0.113.7")), "ip:203.0.113.7");
        assert_eq!(
            client_bucket(Some("2001:db8:1:2:aaaa::1")),
            client_bucket(Some("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_eq!(
            client_bucket(Some("2001:db8:1:2::1")),
            "ip6:2001:db8:1:2::/64"
        );
        assert_ne!(
            client_bucket(Some("2001:db8:1:2::1")),
            client_bucket(Some("2001:db8:1:3::1"))
        );
        assert_eq!(
            client_bucket(Some("::ffff:198.51.100.9")),
            "ip:198.51.100.9"
        );
        assert_eq!(client_bucket(None), "ip:unknown");
        assert_eq!(client_bucket(Some("not an ip")), "ip:unknown");
        assert_eq!(client_bucket(Some("1.2.3.4, 5.6.7.8")), "ip:unknown");
    }

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
