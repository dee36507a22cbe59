//! Per-partition ack ordering. DriftQ's committed offset is the *highest* offset ever acked
//! (PROTOCOL §3.6, Q1): acking offset 7 while 5 is still running would, after a broker
//! restart, make the group resume after 7 and lose 5. So a message is acked only when it and
//! every lower offset of the same partition delivered to this process are finished.

use std::collections::{BTreeMap, HashMap};

/// Where one delivered message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// A step is handling it.
    Running,
    /// Handled; `ack` says whether the outcome wants an ack (see `StepOutcome::acks`).
    Finished { ack: bool },
}

/// Tracks messages delivered to this process, per partition, in offset order.
///
/// Owned by the consume loop (single task), so it needs no lock.
#[derive(Debug, Default)]
pub struct AckTracker {
    partitions: HashMap<u32, BTreeMap<u64, Slot>>,
}

impl AckTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a delivery. Returns `false` when this (partition, offset) is already being
    /// handled here, or finished and waiting for a lower offset: the lease ran out and DriftQ
    /// redelivered it to us. Handling it twice would only race with ourselves, and the
    /// pending ack (same owner) covers the new delivery too.
    pub fn begin(&mut self, partition: u32, offset: u64) -> bool {
        let slots = self.partitions.entry(partition).or_default();
        if slots.contains_key(&offset) {
            return false;
        }
        slots.insert(offset, Slot::Running);
        true
    }

    /// Records that the step for (partition, offset) finished, and returns the offsets of
    /// that partition that may now be acked, lowest first. They must be acked in that order.
    ///
    /// Finished messages that want no ack (left for redelivery, or failed) still unblock the
    /// ones above them: they are someone else's job now (DriftQ redelivers them), and holding
    /// later acks back for them would stall the partition behind a message we gave up.
    pub fn finish(&mut self, partition: u32, offset: u64, ack: bool) -> Vec<u64> {
        let Some(slots) = self.partitions.get_mut(&partition) else {
            return Vec::new();
        };
        if let Some(slot) = slots.get_mut(&offset) {
            *slot = Slot::Finished { ack };
        }
        let mut ready = Vec::new();
        while let Some(entry) = slots.first_entry() {
            match *entry.get() {
                Slot::Running => break,
                Slot::Finished { ack } => {
                    if ack {
                        ready.push(*entry.key());
                    }
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

    #[test]
    fn in_order_completion_acks_immediately() {
        let mut t = AckTracker::new();
        assert!(t.begin(0, 3));
        assert!(t.begin(0, 5));
        assert_eq!(t.finish(0, 3, true), vec![3]);
        assert_eq!(t.finish(0, 5, true), vec![5]);
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn higher_offset_waits_for_lower_one() {
        let mut t = AckTracker::new();
        t.begin(0, 3);
        t.begin(0, 5);
        assert!(t.finish(0, 5, true).is_empty(), "5 must wait for 3");
        assert_eq!(t.finish(0, 3, true), vec![3, 5]);
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn partitions_are_independent() {
        let mut t = AckTracker::new();
        t.begin(0, 1);
        t.begin(1, 2);
        assert_eq!(
            t.finish(1, 2, true),
            vec![2],
            "partition 1 does not wait for partition 0"
        );
        assert_eq!(t.finish(0, 1, true), vec![1]);
    }

    #[test]
    fn unacked_finish_releases_later_offsets_without_acking_itself() {
        let mut t = AckTracker::new();
        t.begin(2, 10);
        t.begin(2, 11);
        assert!(t.finish(2, 11, true).is_empty());
        assert_eq!(t.finish(2, 10, false), vec![11]);
    }

    #[test]
    fn duplicate_delivery_is_refused_until_released() {
        let mut t = AckTracker::new();
        assert!(t.begin(0, 7));
        assert!(!t.begin(0, 7), "running");
        t.begin(0, 8);
        t.finish(0, 8, true);
        assert!(!t.begin(0, 8), "finished but waiting for 7");
        assert_eq!(t.finish(0, 7, true), vec![7, 8]);
        assert!(
            t.begin(0, 7),
            "released: a later redelivery is handled again"
        );
    }

    #[test]
    fn finishing_unknown_offset_is_harmless() {
        let mut t = AckTracker::new();
        assert!(t.finish(4, 1, true).is_empty());
        t.begin(4, 2);
        assert!(t.finish(4, 1, true).is_empty());
        assert_eq!(t.pending(), 1);
    }
}
