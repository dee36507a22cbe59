//! Per-partition ack ordering. DriftQ's committed offset is the *highest* offset ever acked
//! (PROTOCOL §3.6, Q1): acking offset 7 while 5 is still running would, after a broker
//! restart, make the group resume after 7 and lose 5. So a message is acked only when it and
//! every lower offset of the same partition delivered to this process are finished — and a
//! lower message we did *not* ack (its step failed, or it was left for redelivery) holds the
//! later acks back until DriftQ has redelivered it and it was acked, or for `hold` at most,
//! counted from its *first* failure: a poison message that fails on every redelivery must not
//! renew its hold each time and keep its partition's acks back forever.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Where one delivered message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// A step is handling it; `failed_since` when an earlier delivery of it was not acked.
    Running { failed_since: Option<Instant> },
    /// Handled and wants its ack; waits for every lower offset.
    Done,
    /// Handled without an ack (failed, or left for redelivery) at `since`. DriftQ will
    /// redeliver it; until then it is a barrier for the offsets above it.
    Unacked { since: Instant },
}

/// Tracks messages delivered to this process, per partition, in offset order.
///
/// Owned by the consume loop (single task), so it needs no lock.
#[derive(Debug)]
pub struct AckTracker {
    partitions: HashMap<u32, BTreeMap<u64, Slot>>,
    hold: Duration,
}

impl AckTracker {
    /// An empty tracker. An unacked message holds the acks above it for at most `hold`: long
    /// enough for DriftQ to redeliver it (its lease, plus the redelivery tick) and for whoever
    /// gets it to finish; after that we assume another worker acked it, rather than stall
    /// the partition behind a message this process may never see again.
    pub fn new(hold: Duration) -> Self {
        Self {
            partitions: HashMap::new(),
            hold,
        }
    }

    /// Registers a delivery. Returns `false` when this (partition, offset) is already being
    /// handled here, or finished and waiting for a lower offset: the lease ran out and DriftQ
    /// redelivered it to us. Handling it twice would only race with ourselves, and the
    /// pending ack (same owner) covers the new delivery too. A redelivery of a message we
    /// left unacked is handled again: that is the redelivery the barrier waits for.
    pub fn begin(&mut self, partition: u32, offset: u64) -> bool {
        let slots = self.partitions.entry(partition).or_default();
        match slots.get(&offset) {
            None => {
                slots.insert(offset, Slot::Running { failed_since: None });
                true
            }
            Some(Slot::Unacked { since }) => {
                let failed_since = Some(*since);
                slots.insert(offset, Slot::Running { failed_since });
                true
            }
            Some(Slot::Running { .. } | Slot::Done) => false,
        }
    }

    /// Records that the step for (partition, offset) finished at `now` (`ack`: whether its
    /// outcome wants an ack), and returns the offsets of that partition that may now be
    /// acked, lowest first. They must be acked in that order.
    pub fn finish(&mut self, partition: u32, offset: u64, ack: bool, now: Instant) -> Vec<u64> {
        let Some(slots) = self.partitions.get_mut(&partition) else {
            return Vec::new();
        };
        if let Some(slot) = slots.get_mut(&offset) {
            let first_failure = match *slot {
                Slot::Running { failed_since } => failed_since,
                _ => None,
            };
            *slot = if ack {
                Slot::Done
            } else {
                Slot::Unacked {
                    since: first_failure.unwrap_or(now),
                }
            };
        }
        self.release(partition, now)
    }

    /// Lifts the barriers that are older than `hold` at `now`, returning the acks that this
    /// releases per partition. Call it periodically.
    pub fn release_expired(&mut self, now: Instant) -> Vec<(u32, Vec<u64>)> {
        let partitions: Vec<u32> = self.partitions.keys().copied().collect();
        partitions
            .into_iter()
            .map(|p| (p, self.release(p, now)))
            .filter(|(_, ready)| !ready.is_empty())
            .collect()
    }

    /// Pops the finished prefix of one partition.
    fn release(&mut self, partition: u32, now: Instant) -> Vec<u64> {
        let Some(slots) = self.partitions.get_mut(&partition) else {
            return Vec::new();
        };
        let mut ready = Vec::new();
        while let Some(entry) = slots.first_entry() {
            match *entry.get() {
                Slot::Running { .. } => break,
                Slot::Unacked { since } if now.duration_since(since) < self.hold => break,
                Slot::Unacked { .. } => {
                    tracing::warn!(
                        partition,
                        offset = *entry.key(),
                        "unacked message not seen again within the hold; releasing the acks above it"
                    );
                    entry.remove();
                }
                Slot::Done => {
                    ready.push(*entry.key());
                    entry.remove();
                }
            }
        }
        if slots.is_empty() {
            self.partitions.remove(&partition);
        }
        ready
    }

    /// Number of messages registered and not yet released (running or waiting for a lower offset).
    pub fn pending(&self) -> usize {
        self.partitions.values().map(BTreeMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLD: Duration = Duration::from_secs(10);

    fn tracker() -> (AckTracker, Instant) {
        (AckTracker::new(HOLD), Instant::now())
    }

    #[test]
    fn in_order_completion_acks_immediately() {
        let (mut t, now) = tracker();
        assert!(t.begin(0, 3));
        assert!(t.begin(0, 5));
        assert_eq!(t.finish(0, 3, true, now), vec![3]);
        assert_eq!(t.finish(0, 5, true, now), vec![5]);
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn higher_offset_waits_for_lower_one() {
        let (mut t, now) = tracker();
        t.begin(0, 3);
        t.begin(0, 5);
        assert!(t.finish(0, 5, true, now).is_empty(), "5 must wait for 3");
        assert_eq!(t.finish(0, 3, true, now), vec![3, 5]);
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn partitions_are_independent() {
        let (mut t, now) = tracker();
        t.begin(0, 1);
        t.begin(1, 2);
        assert_eq!(
            t.finish(1, 2, true, now),
            vec![2],
            "partition 1 does not wait for 0"
        );
        assert_eq!(t.finish(0, 1, true, now), vec![1]);
    }

    #[test]
    fn unacked_message_holds_later_acks_until_redelivered_and_acked() {
        let (mut t, now) = tracker();
        t.begin(2, 10);
        t.begin(2, 11);
        assert!(t.finish(2, 11, true, now).is_empty());
        assert!(
            t.finish(2, 10, false, now).is_empty(),
            "10 failed: 11 must wait"
        );
        assert!(t.begin(2, 10), "the redelivery of 10 is handled again");
        assert_eq!(t.finish(2, 10, true, now), vec![10, 11]);
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn unacked_barrier_is_lifted_after_the_hold() {
        let (mut t, now) = tracker();
        t.begin(2, 10);
        t.begin(2, 11);
        t.finish(2, 10, false, now);
        assert!(t.finish(2, 11, true, now).is_empty());
        assert!(
            t.release_expired(now + HOLD / 2).is_empty(),
            "still within the hold"
        );
        assert_eq!(t.release_expired(now + HOLD), vec![(2, vec![11])]);
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn a_message_failing_on_every_redelivery_holds_the_barrier_from_its_first_failure() {
        let (mut t, now) = tracker();
        t.begin(2, 10);
        t.begin(2, 11);
        assert!(t.finish(2, 11, true, now).is_empty());
        t.finish(2, 10, false, now);
        // Redelivered and failed again, half a hold later: the hold does not start over.
        assert!(t.begin(2, 10));
        assert!(t.finish(2, 10, false, now + HOLD / 2).is_empty());
        assert_eq!(
            t.release_expired(now + HOLD),
            vec![(2, vec![11])],
            "one hold after the first failure, not after the last"
        );
    }

    #[test]
    fn duplicate_delivery_is_refused_until_released() {
        let (mut t, now) = tracker();
        assert!(t.begin(0, 7));
        assert!(!t.begin(0, 7), "running");
        t.begin(0, 8);
        t.finish(0, 8, true, now);
        assert!(!t.begin(0, 8), "finished but waiting for 7");
        assert_eq!(t.finish(0, 7, true, now), vec![7, 8]);
        assert!(
            t.begin(0, 7),
            "released: a later redelivery is handled again"
        );
    }

    #[test]
    fn finishing_unknown_offset_is_harmless() {
        let (mut t, now) = tracker();
        assert!(t.finish(4, 1, true, now).is_empty());
        t.begin(4, 2);
        assert!(t.finish(4, 1, true, now).is_empty());
        assert_eq!(t.pending(), 1);
    }
}
