//! When the supervisor restarts a service that exited: at once the first time (a chaos crash
//! should recover fast), then with a growing delay while it keeps exiting quickly, so a crash
//! loop does not spin.

use std::time::{Duration, Instant};

use super::state::RestartPolicy;

/// A service that ran this long before exiting starts again without delay.
const STABLE_RUN: Duration = Duration::from_secs(10);
/// Cap of the restart delay for a service that keeps exiting quickly.
const MAX_RESTART_DELAY: Duration = Duration::from_secs(5);
/// Cap under [`RestartPolicy::Every`]: kills are the test there, so restarts stay quick, but
/// a service that cannot start (e.g. its port is taken) must still not spin.
const TORTURE_MAX_RESTART_DELAY: Duration = Duration::from_millis(250);

/// Restart bookkeeping of one slot: a slot that keeps exiting quickly is restarted with a
/// growing delay, so a crash loop does not spin.
#[derive(Debug, Clone, Copy)]
pub struct Restarts {
    /// When the slot last started.
    pub started: Instant,
    quick_exits: u32,
}

impl Restarts {
    /// A slot that starts now.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            quick_exits: 0,
        }
    }

    /// Exits in a row that came soon after a start.
    pub fn quick_exits(&self) -> u32 {
        self.quick_exits
    }

    /// Records an exit and returns the delay before the restart.
    pub fn exited(&mut self, policy: RestartPolicy) -> Duration {
        self.quick_exits = if self.started.elapsed() >= STABLE_RUN {
            0
        } else {
            self.quick_exits + 1
        };
        let delay = restart_delay(self.quick_exits);
        match policy {
            RestartPolicy::Workers => delay,
            RestartPolicy::Every => delay.min(TORTURE_MAX_RESTART_DELAY),
        }
    }
}

/// 0 for the first quick exit (a chaos crash should recover fast), then 100 ms doubling to 5 s.
fn restart_delay(quick_exits: u32) -> Duration {
    if quick_exits <= 1 {
        return Duration::ZERO;
    }
    let exponent = (quick_exits - 2).min(10);
    (Duration::from_millis(100) * 2u32.pow(exponent)).min(MAX_RESTART_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crashed_service_restarts_at_once_then_backs_off() {
        assert_eq!(restart_delay(0), Duration::ZERO);
        assert_eq!(restart_delay(1), Duration::ZERO);
        assert_eq!(restart_delay(2), Duration::from_millis(100));
        assert_eq!(restart_delay(3), Duration::from_millis(200));
        assert_eq!(restart_delay(40), MAX_RESTART_DELAY);
    }

    #[test]
    fn torture_restarts_stay_quick() {
        let mut restarts = Restarts::new();
        for _ in 0..20 {
            assert!(restarts.exited(RestartPolicy::Every) <= TORTURE_MAX_RESTART_DELAY);
        }
        assert_eq!(restarts.exited(RestartPolicy::Workers), MAX_RESTART_DELAY);
    }
}
