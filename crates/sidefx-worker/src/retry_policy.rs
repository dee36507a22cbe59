//! How long to wait before retrying a failed step: exponential backoff with *equal jitter*.
//!
//! Edit here to change the retry curve. The backoff is really applied: the retry command
//! waits in the store's retry outbox until it is due (see `retry_outbox`).

use std::time::Duration;

/// Exponential backoff with equal jitter.
///
/// `ceiling(n) = min(base * 2^n, max)` for attempt `n` (0 = the first attempt failed), and the
/// wait is `ceiling/2 + random(0 ..= ceiling/2)`.
///
/// Why equal jitter rather than full jitter (`random(0 ..= ceiling)`): full jitter sometimes
/// retries almost at once, which hits a dependency that just failed again; equal jitter
/// always waits at least half the ceiling, and the random half still spreads out the retries
/// of many runs that failed together (e.g. when a payment provider had an outage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    base: Duration,
    max: Duration,
}

impl RetryPolicy {
    /// A policy starting at `base` and never waiting longer than `max` (`max` < `base` is
    /// treated as `max` = `base`).
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max: max.max(base),
        }
    }

    /// The un-jittered upper bound for the wait after attempt `attempt` failed.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        // 2^attempt saturates instead of overflowing for absurd attempt numbers.
        let factor = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The wait after attempt `attempt` failed, with `unit` a uniform random number in
    /// `[0, 1]`. Pure, so tests can pin the randomness.
    pub fn backoff_with(&self, attempt: u32, unit: f64) -> Duration {
        let half = self.ceiling(attempt) / 2;
        half + half.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The wait after attempt `attempt` failed, with fresh randomness.
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.backoff_with(attempt, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::new(Duration::from_millis(1000), Duration::from_millis(10_000))
    }

    #[test]
    fn ceiling_doubles_then_caps() {
        let p = policy();
        let ceilings: Vec<u128> = (0..6).map(|a| p.ceiling(a).as_millis()).collect();
        assert_eq!(ceilings, vec![1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(p.ceiling(200), Duration::from_millis(10_000), "no overflow");
    }

    #[test]
    fn equal_jitter_stays_between_half_and_full_ceiling() {
        let p = policy();
        assert_eq!(p.backoff_with(1, 0.0), Duration::from_millis(1000));
        assert_eq!(p.backoff_with(1, 1.0), Duration::from_millis(2000));
        assert_eq!(p.backoff_with(1, 0.5), Duration::from_millis(1500));
        assert_eq!(
            p.backoff_with(1, 7.0),
            Duration::from_millis(2000),
            "unit is clamped"
        );
        for attempt in 0..10 {
            let b = p.backoff(attempt);
            assert!(
                b >= p.ceiling(attempt) / 2 && b <= p.ceiling(attempt),
                "{b:?}"
            );
        }
    }

    #[test]
    fn max_below_base_means_constant_backoff() {
        let p = RetryPolicy::new(Duration::from_millis(500), Duration::from_millis(100));
        assert_eq!(p.ceiling(0), Duration::from_millis(500));
        assert_eq!(p.ceiling(3), Duration::from_millis(500));
    }
}
