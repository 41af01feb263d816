use super::*;
use proptest::prelude::*;

#[test]
fn backoff_doubles_from_two_seconds_and_stops_at_256() {
    let seen: Vec<i64> = (1..=10).map(backoff_ms).collect();
    assert_eq!(
        seen,
        [2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 256_000, 256_000]
    );
}

#[test]
fn the_fifth_failure_in_a_row_gives_up() {
    let ladder: Vec<AfterFailure> = (0..5).map(|before| after_failure(before, false)).collect();
    assert_eq!(
        ladder,
        [
            AfterFailure::Retry {
                failures: 1,
                in_ms: 2_000
            },
            AfterFailure::Retry {
                failures: 2,
                in_ms: 4_000
            },
            AfterFailure::Retry {
                failures: 3,
                in_ms: 8_000
            },
            AfterFailure::Retry {
                failures: 4,
                in_ms: 16_000
            },
            AfterFailure::GiveUp,
        ]
    );
}

#[test]
fn a_permanent_failure_gives_up_at_once() {
    assert_eq!(after_failure(0, true), AfterFailure::GiveUp);
}

proptest! {
    #[test]
    fn backoff_never_shrinks_and_stays_bounded(a in -5i64..100, b in -5i64..100) {
        let (lo, hi) = (a.min(b), a.max(b));
        prop_assert!(backoff_ms(lo) <= backoff_ms(hi));
        prop_assert!((1_000..=256_000).contains(&backoff_ms(a)));
    }

    #[test]
    fn retries_count_up_until_the_give_up(before in 0i64..1_000) {
        match after_failure(before, false) {
            AfterFailure::Retry { failures, in_ms } => {
                prop_assert_eq!(failures, before + 1);
                prop_assert!(failures < MAX_FAILURES);
                prop_assert_eq!(in_ms, backoff_ms(failures));
            }
            AfterFailure::GiveUp => prop_assert!(before + 1 >= MAX_FAILURES),
        }
    }
}
