//! First deliveries (§3.3): walk partitions 0..N, continue from the group's
//! cursor, deliver in offset order while fewer than the in-flight limit are
//! out, each message to the next stream in round-robin order.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use crate::model::{Item, Message};
use crate::state::State;
use crate::state::groups::{GroupPartition, InFlight, StreamSet};
use crate::state::idempotency::{BeginRefusal, ConsumeIdempotency, ConsumeKey, INVALID_LEASE};
use crate::state::{WalLog, topics::Partition};
use crate::wal::Record;

/// Which stream gets a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// This stream (index into the group's streams).
    Stream(usize),
    /// The chosen stream's lease is outside the consume-idempotency bounds (Q9).
    InvalidLease,
    /// Every stream was refused (another owner holds the key) or none is open.
    Nobody,
}

/// Chooses the receiving stream, taking the consume lease for keyed messages (§3.10).
pub fn pick_stream(
    streams: &mut StreamSet,
    idem: &mut ConsumeIdempotency,
    scope: Option<&ConsumeKey>,
    now: Instant,
) -> Pick {
    let Some(scope) = scope else {
        return streams.next_stream().map_or(Pick::Nobody, Pick::Stream);
    };
    for _ in 0..streams.slots.len() {
        let Some(i) = streams.next_stream() else {
            break;
        };
        let slot = &streams.slots[i];
        match idem.begin(scope, &slot.owner, slot.lease, now) {
            Ok(()) => return Pick::Stream(i),
            Err(BeginRefusal::InvalidLease) => return Pick::InvalidLease,
            Err(BeginRefusal::Held) => {}
        }
    }
    Pick::Nobody
}

/// The consume-idempotency scope of a message for a group, if it has a key.
pub fn key_scope(msg: &Message, topic: &str, group: &str) -> Option<ConsumeKey> {
    let key = msg.idempotency_key()?;
    Some((
        msg.tenant().to_owned(),
        topic.to_owned(),
        group.to_owned(),
        key.to_owned(),
    ))
}

/// Appends `text` to an accumulated error with the ` | ` separator.
pub fn append_error(existing: &mut String, text: &str) {
    if !existing.is_empty() {
        existing.push_str(" | ");
    }
    existing.push_str(text);
}

/// Queues the retry-state record of a message.
pub fn log_retry(log: &mut WalLog, topic: &str, group: &str, msg: &Message, text: &str) {
    log.append(&Record::Retry {
        topic: topic.to_owned(),
        group: group.to_owned(),
        partition: msg.partition,
        offset: msg.offset,
        last_error: text.to_owned(),
        at_ms: chrono::Utc::now().timestamp_millis(),
    });
}

/// Raises a group's committed offset and logs it when it went up.
pub fn commit(
    log: &mut WalLog,
    gp: &mut GroupPartition,
    ever_committed: &mut bool,
    (topic, group): (&str, &str),
    msg: &Message,
) {
    if gp.raise_commit(msg.offset) {
        *ever_committed = true;
        log.append(&Record::Commit {
            topic: topic.to_owned(),
            group: group.to_owned(),
            partition: msg.partition,
            offset: msg.offset,
        });
    }
}

impl State {
    /// Dispatches every group of `topic` that has an open stream.
    pub fn dispatch_topic(&mut self, topic: &str, now: Instant) {
        let groups: Vec<String> = match self.topics.get(topic) {
            Some(t) => t
                .groups
                .iter()
                .filter(|(_, g)| !g.streams.is_empty())
                .map(|(name, _)| name.clone())
                .collect(),
            None => return,
        };
        for group in groups {
            self.dispatch_group(topic, &group, now);
        }
    }

    /// Dispatches one group over all partitions of its topic.
    pub fn dispatch_group(&mut self, topic_name: &str, group_name: &str, now: Instant) {
        let durable = self.durable();
        let limit = self.limits.inflight_per_partition;
        let State {
            topics,
            consume_idem,
            log,
            dropped,
            ..
        } = self;
        let Some(topic) = topics.get_mut(topic_name) else {
            return;
        };
        let Some(group) = topic.groups.get_mut(group_name) else {
            return;
        };
        if group.streams.is_empty() {
            return;
        }
        let names = (topic_name, group_name);
        for (p, part) in topic.partitions.iter().enumerate() {
            let gp = group.parts.entry(p as u32).or_default();
            let mut ctx = PartitionDispatch {
                part,
                gp,
                streams: &mut group.streams,
                ever_committed: &mut group.ever_committed,
                idem: consume_idem,
                log,
                dropped,
                names,
            };
            ctx.run(durable, limit, now);
        }
    }
}

/// Borrowed pieces needed to dispatch one partition of one group.
struct PartitionDispatch<'a> {
    part: &'a Partition,
    gp: &'a mut GroupPartition,
    streams: &'a mut StreamSet,
    ever_committed: &'a mut bool,
    idem: &'a mut ConsumeIdempotency,
    log: &'a mut WalLog,
    /// Produced messages whose WAL write failed (their producer was told so).
    dropped: &'a BTreeSet<u64>,
    names: (&'a str, &'a str),
}

impl PartitionDispatch<'_> {
    fn run(&mut self, durable: u64, limit: usize, now: Instant) {
        let committed = self.gp.committed;
        let mut cursor = *self
            .gp
            .cursor
            .get_or_insert_with(|| self.part.first_after(committed));
        while self.gp.inflight.len() < limit {
            let Some(stored) = self.part.messages.get(cursor) else {
                break;
            };
            if self.dropped.contains(&stored.seq) {
                cursor += 1;
                continue;
            }
            if stored.seq > durable {
                break;
            }
            let msg = Arc::clone(&stored.msg);
            let scope = key_scope(&msg, self.names.0, self.names.1);
            if scope.as_ref().is_some_and(|s| self.idem.is_committed(s)) {
                // §3.10: this group already committed the key; skip and commit past it.
                commit(self.log, self.gp, self.ever_committed, self.names, &msg);
                cursor += 1;
                continue;
            }
            match pick_stream(self.streams, self.idem, scope.as_ref(), now) {
                Pick::Stream(i) => {
                    self.deliver(i, msg, now);
                    cursor += 1;
                }
                Pick::InvalidLease => {
                    // Q9: not delivered, and the partition waits behind it.
                    if self.gp.retry.get(&msg.offset).map(String::as_str) != Some(INVALID_LEASE) {
                        self.gp.retry.insert(msg.offset, INVALID_LEASE.to_owned());
                        log_retry(self.log, self.names.0, self.names.1, &msg, INVALID_LEASE);
                    }
                    break;
                }
                Pick::Nobody => break,
            }
        }
        self.gp.cursor = Some(cursor);
    }

    fn deliver(&mut self, stream: usize, msg: Arc<Message>, now: Instant) {
        let last_error = self.gp.retry.get(&msg.offset).cloned().unwrap_or_default();
        let line = Item::new(&msg, 1, &last_error).to_line();
        let owner = self.streams.slots[stream].owner.clone();
        self.gp.inflight.insert(
            msg.offset,
            InFlight {
                msg,
                owner,
                attempts: 1,
                last_error,
                delivered_at: now,
                not_before: None,
                due: false,
            },
        );
        self.streams.send(stream, line);
    }
}
