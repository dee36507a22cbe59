//! Seeded fault injection: each charge request that would execute draws its faults from one
//! `StdRng`, so a seed reproduces the same decisions for the same order of requests.
//! Replays of committed keys, 409s, bad requests and GET routes draw nothing.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A probability in `[0, 1]`, checked once where it is parsed.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd)]
pub struct Rate(f64);

/// A rate outside `[0, 1]` (or not a number).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("a rate must be a number between 0 and 1, got {0:?}")]
pub struct RateError(String);

impl Rate {
    /// Never.
    pub const NEVER: Rate = Rate(0.0);
    /// Every time.
    pub const ALWAYS: Rate = Rate(1.0);

    /// `value` as a rate, if it lies in `[0, 1]`.
    pub fn new(value: f64) -> Result<Self, RateError> {
        if (0.0..=1.0).contains(&value) {
            Ok(Rate(value))
        } else {
            Err(RateError(value.to_string()))
        }
    }

    /// The probability.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl FromStr for Rate {
    type Err = RateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let value: f64 = s.trim().parse().map_err(|_| RateError(s.to_owned()))?;
        Rate::new(value)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How often each fault strikes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultRates {
    /// Answer 429 with `Retry-After`, committing nothing.
    pub rate_limit: Rate,
    /// Answer 503 with `Retry-After: 1`, committing nothing.
    pub fail_before_commit: Rate,
    /// Hold the request for `slow_for` before committing (its key stays in flight).
    pub slow: Rate,
    /// How long a slow request is held.
    pub slow_for: Duration,
    /// Commit, then drop the connection without answering.
    pub drop_after_commit: Rate,
}

impl Default for FaultRates {
    /// No faults; slow requests (if enabled later) take 3 s.
    fn default() -> Self {
        FaultRates {
            rate_limit: Rate::NEVER,
            fail_before_commit: Rate::NEVER,
            slow: Rate::NEVER,
            slow_for: Duration::from_secs(3),
            drop_after_commit: Rate::NEVER,
        }
    }
}

/// What happens to one executing request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPlan {
    /// 429, nothing committed.
    RateLimit,
    /// 503, nothing committed.
    FailBeforeCommit,
    /// Execute, after holding the request for `hold` (zero: no delay), then answer or, with
    /// `drop_connection`, commit and hang up.
    Execute {
        /// Delay before committing.
        hold: Duration,
        /// Drop the connection after the commit instead of answering.
        drop_connection: bool,
    },
}

/// The fault decider shared by all requests; its rates can be changed while serving (tests).
#[derive(Debug, Clone)]
pub struct Faults {
    inner: Arc<Mutex<Decider>>,
    seed: u64,
}

#[derive(Debug)]
struct Decider {
    rates: FaultRates,
    rng: StdRng,
}

impl Faults {
    /// A decider with `rates` whose random sequence is fixed by `seed`.
    pub fn new(rates: FaultRates, seed: u64) -> Self {
        let decider = Decider {
            rates,
            rng: StdRng::seed_from_u64(seed),
        };
        Faults {
            inner: Arc::new(Mutex::new(decider)),
            seed,
        }
    }

    /// The seed it was created with (logged at start to reproduce a run).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Replaces the rates; the random sequence continues where it was.
    pub fn set_rates(&self, rates: FaultRates) {
        self.lock().rates = rates;
    }

    /// The current rates.
    pub fn rates(&self) -> FaultRates {
        self.lock().rates
    }

    /// Decides the faults of one executing request. Always draws four numbers, whatever the
    /// outcome, so that the position in the sequence depends only on the number of requests.
    pub fn plan(&self) -> FaultPlan {
        let mut decider = self.lock();
        let rates = decider.rates;
        let draws: [f64; 4] = std::array::from_fn(|_| decider.rng.random::<f64>());
        // `random::<f64>()` is in [0, 1): a rate of 0 never strikes, a rate of 1 always does.
        let strikes = |draw: f64, rate: Rate| draw < rate.get();
        if strikes(draws[0], rates.rate_limit) {
            return FaultPlan::RateLimit;
        }
        if strikes(draws[1], rates.fail_before_commit) {
            return FaultPlan::FailBeforeCommit;
        }
        let hold = if strikes(draws[2], rates.slow) {
            rates.slow_for
        } else {
            Duration::ZERO
        };
        FaultPlan::Execute {
            hold,
            drop_connection: strikes(draws[3], rates.drop_after_commit),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Decider> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        assert_eq!("0.25".parse::<Rate>().map(Rate::get), Ok(0.25));
        assert!("1".parse::<Rate>().is_ok());
        assert!("0".parse::<Rate>().is_ok());
        for bad in ["1.5", "-0.1", "NaN", "often", ""] {
            assert!(bad.parse::<Rate>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn same_seed_same_plans_and_extreme_rates_are_certain() {
        let rates = FaultRates {
            rate_limit: Rate::new(0.3).unwrap(),
            fail_before_commit: Rate::new(0.3).unwrap(),
            ..FaultRates::default()
        };
        let (a, b) = (Faults::new(rates, 7), Faults::new(rates, 7));
        let plans_a: Vec<_> = (0..50).map(|_| a.plan()).collect();
        let plans_b: Vec<_> = (0..50).map(|_| b.plan()).collect();
        assert_eq!(plans_a, plans_b);
        assert!(plans_a.contains(&FaultPlan::RateLimit));
        assert!(plans_a.contains(&FaultPlan::FailBeforeCommit));

        let none = Faults::new(FaultRates::default(), 1);
        let always_drop = FaultRates {
            drop_after_commit: Rate::ALWAYS,
            ..FaultRates::default()
        };
        let all = Faults::new(always_drop, 1);
        for _ in 0..100 {
            let quiet = FaultPlan::Execute {
                hold: Duration::ZERO,
                drop_connection: false,
            };
            assert_eq!(none.plan(), quiet);
            let dropped = FaultPlan::Execute {
                hold: Duration::ZERO,
                drop_connection: true,
            };
            assert_eq!(all.plan(), dropped);
        }
    }
}
