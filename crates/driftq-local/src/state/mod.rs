//! The broker's in-memory state behind one mutex, and every operation on it.
//!
//! Critical sections are short and never wait for I/O: an operation queues its
//! WAL records (remembering the highest sequence number in [`WalLog`]), drops
//! the lock, and only then waits for durability. Messages are dispatched to
//! consumers only after their record is durable (see [`dispatch`]).
//!
//! | file | concept |
//! |---|---|
//! | [`topics`] | partitions, offsets, backpressure |
//! | [`groups`] | streams, round robin, committed offsets, in-flight sets |
//! | [`idempotency`] | producer dedupe, consume-side key leases |
//! | [`produce`] | topic creation and the produce path |
//! | [`dispatch`] | first deliveries |
//! | [`redelivery`] | lease expiry, backoff, nack redelivery |
//! | [`acks`] | ack and nack |
//! | [`dlq`] | dead-letter copies |
//! | [`streams`] | opening and closing consume streams |
//! | [`stream_budget`] | the bound on what a stream may have queued |
//! | [`restore`] | rebuilding the state from the WAL |
//! | [`metrics`] | Prometheus exposition |

pub mod acks;
pub mod dispatch;
pub mod dlq;
pub mod groups;
pub mod idempotency;
pub mod metrics;
pub mod produce;
pub mod redelivery;
pub mod restore;
pub mod stream_budget;
pub mod streams;
pub mod topics;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::Limits;
use crate::wal::{Record, Wal};

use self::idempotency::{ConsumeIdempotency, ProducerIdempotency};
use self::topics::Topic;

/// Queues WAL records and remembers the highest sequence number queued by the
/// current operation, which the caller waits for after releasing the lock.
#[derive(Debug)]
pub struct WalLog {
    wal: Arc<Wal>,
    mark: u64,
}

impl WalLog {
    /// Queues a record.
    pub fn append(&mut self, record: &Record) -> u64 {
        let seq = self.wal.append(record);
        self.mark = self.mark.max(seq);
        seq
    }

    /// True while the last WAL write failed (see `wal::writer`).
    pub fn wal_degraded(&self) -> bool {
        self.wal.degraded().is_some()
    }

    /// The highest sequence number queued since the last call (0 = none).
    pub fn take_mark(&mut self) -> u64 {
        std::mem::take(&mut self.mark)
    }
}

/// Monotonic counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// `dlq_messages_total` by source topic.
    pub dlq: BTreeMap<String, u64>,
    /// `produce_rejected_total` by reason.
    pub rejected: BTreeMap<&'static str, u64>,
}

/// Everything the broker knows.
#[derive(Debug)]
pub struct State {
    /// Topics by name (sorted, as `GET /v1/topics` lists them).
    pub topics: BTreeMap<String, Topic>,
    /// Producer idempotency.
    pub producer_idem: ProducerIdempotency,
    /// Consume-side idempotency.
    pub consume_idem: ConsumeIdempotency,
    /// WAL access for the current operation.
    pub log: WalLog,
    /// Limits in force.
    pub limits: Limits,
    /// Topics holding messages not yet dispatched because their record was not yet durable.
    pub pending: BTreeSet<String>,
    /// Metrics counters.
    pub counters: Counters,
    /// Next stream id.
    pub next_stream_id: u64,
    /// Set on shutdown: no new streams.
    pub closed: bool,
    /// WAL sequence numbers of produced messages whose write failed: never delivered.
    pub dropped: BTreeSet<u64>,
    /// [`Wal::drops`] when `dropped` was last brought up to date.
    seen_drops: u64,
}

impl State {
    /// An empty state writing to `wal`.
    pub fn new(wal: Arc<Wal>, limits: Limits) -> Self {
        State {
            topics: BTreeMap::new(),
            producer_idem: ProducerIdempotency::new(limits.idempotency_ttl()),
            consume_idem: ConsumeIdempotency::default(),
            log: WalLog { wal, mark: 0 },
            limits,
            pending: BTreeSet::new(),
            counters: Counters::default(),
            next_stream_id: 1,
            closed: false,
            dropped: BTreeSet::new(),
            seen_drops: 0,
        }
    }

    /// The highest durable WAL sequence number, after taking note of the produced
    /// messages a failed write dropped (in this order: a drop is published before any
    /// later progress, so no dropped message below the returned number is missed).
    pub fn durable(&mut self) -> u64 {
        let durable = self.log.wal.durable();
        let drops = self.log.wal.drops();
        if drops != self.seen_drops {
            self.seen_drops = drops;
            self.dropped.append(&mut self.log.wal.take_dropped());
        }
        durable
    }
}

/// The state and its WAL, shared by the HTTP handlers and background tasks.
#[derive(Debug)]
pub struct Shared {
    state: Mutex<State>,
    /// The log (also reachable without the state lock, to wait for durability).
    pub wal: Arc<Wal>,
}

impl Shared {
    /// Wraps a state.
    pub fn new(state: State) -> Arc<Self> {
        let wal = Arc::clone(&state.log.wal);
        Arc::new(Shared {
            state: Mutex::new(state),
            wal,
        })
    }

    /// Locks the state. A panic while holding the lock cannot leave it half
    /// updated in a way later requests cannot cope with (every operation checks
    /// what it finds), so a poisoned lock is simply taken over.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
