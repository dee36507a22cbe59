//! Consumer groups: open streams, the round-robin cursor, and per-partition
//! committed offset, dispatch cursor, in-flight set and retry state (§3.3–§3.6).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc::UnboundedSender;

use crate::model::Message;
use crate::state::stream_budget::StreamBudget;

/// One open `GET /v1/consume` stream.
#[derive(Debug)]
pub struct StreamSlot {
    /// Process-unique id (several streams may share an owner name).
    pub id: u64,
    /// Owner name given by the consumer.
    pub owner: String,
    /// Lease requested by the consumer (or the default).
    pub lease: Duration,
    /// Items are pushed here and written to the response by the stream body.
    pub tx: UnboundedSender<Bytes>,
    /// Bytes queued in `tx`, bounded: a stream that stops reading is cut off.
    pub budget: Arc<StreamBudget>,
}

/// A delivered, not yet acked message.
#[derive(Debug, Clone)]
pub struct InFlight {
    /// The message.
    pub msg: Arc<Message>,
    /// Owner of the stream that got the latest delivery.
    pub owner: String,
    /// Deliveries in this process.
    pub attempts: u32,
    /// Accumulated error text (`ack_timeout`, nack reasons, ...).
    pub last_error: String,
    /// Time of the latest delivery.
    pub delivered_at: Instant,
    /// Backoff gate: no timeout redelivery before this.
    pub not_before: Option<Instant>,
    /// Made due by a nack: redeliver regardless of lease and backoff.
    pub due: bool,
}

/// A group's view of one partition.
#[derive(Debug)]
pub struct GroupPartition {
    /// Highest offset ever acked (−1 = none); not contiguous (Q1).
    pub committed: i64,
    /// Index of the next message to dispatch; created at the first dispatch.
    pub cursor: Option<usize>,
    /// In-flight messages by offset.
    pub inflight: BTreeMap<u64, InFlight>,
    /// Persisted `last_error` by offset, preloaded into new deliveries.
    pub retry: HashMap<u64, String>,
}

impl Default for GroupPartition {
    fn default() -> Self {
        GroupPartition {
            committed: -1,
            cursor: None,
            inflight: BTreeMap::new(),
            retry: HashMap::new(),
        }
    }
}

impl GroupPartition {
    /// Raises the committed offset; true when it went up (only increases are logged).
    pub fn raise_commit(&mut self, offset: u64) -> bool {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        if offset > self.committed {
            self.committed = offset;
            true
        } else {
            false
        }
    }
}

/// The open streams of a group and its round-robin cursor.
#[derive(Debug, Default)]
pub struct StreamSet {
    /// Open streams in registration order.
    pub slots: Vec<StreamSlot>,
    /// Round-robin cursor shared by all partitions, advanced per delivery.
    rr: usize,
}

impl StreamSet {
    /// True when no stream of the group is open.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// §3.4: the lease of the first open stream of `owner`, else the default.
    pub fn lease_for(&self, owner: &str, default: Duration) -> Duration {
        self.slots
            .iter()
            .find(|s| s.owner == owner)
            .map_or(default, |s| s.lease)
    }

    /// The next stream in round-robin order, advancing the cursor. Streams cut off
    /// for not reading are passed over (they are unregistered once their
    /// connection is gone).
    pub fn next_stream(&mut self) -> Option<usize> {
        for _ in 0..self.slots.len() {
            let i = self.rr % self.slots.len();
            self.rr = self.rr.wrapping_add(1);
            if !self.slots[i].budget.is_overflowed() {
                return Some(i);
            }
        }
        None
    }

    /// Hands an item to a stream. A send to a stream whose client just left
    /// still counts as delivered (Q25): the message waits for its lease. So
    /// does one to a stream that stopped reading, which this send may cut off.
    pub fn send(&self, stream: usize, line: Bytes) {
        if let Some(s) = self.slots.get(stream)
            && s.budget.reserve(line.len())
        {
            let _ = s.tx.send(line);
        }
    }
}

/// A consumer group of one topic.
#[derive(Debug, Default)]
pub struct Group {
    /// Open streams.
    pub streams: StreamSet,
    /// Per-partition state, created lazily.
    pub parts: BTreeMap<u32, GroupPartition>,
    /// Whether the group ever committed an offset on this topic (backpressure counts only these).
    pub ever_committed: bool,
}
