//! Reconnect backoff for consume streams: 100 ms doubling up to 2 s, reset
//! once a stream delivers an item again.

use std::time::Duration;

/// First reconnect delay.
const INITIAL: Duration = Duration::from_millis(100);
/// Longest reconnect delay: short enough that a restarted broker is picked up
/// quickly, long enough not to hammer one that is down.
const MAX: Duration = Duration::from_secs(2);

/// Exponential backoff state.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: INITIAL }
    }
}

impl Backoff {
    /// The delay to wait now; the following call returns twice as much, up to the maximum.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(MAX);
        delay
    }

    /// Back to the initial delay, after the connection proved healthy.
    pub(crate) fn reset(&mut self) {
        self.next = INITIAL;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..7)
            .map(|_| backoff.next_delay().as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 2000, 2000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), INITIAL);
    }
}
