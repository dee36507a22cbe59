//! Rebuilding the state from the WAL at start-up (§3.13).
//!
//! What survives: messages with their offsets (topics only if they hold
//! messages, with partitions = highest used + 1), committed offsets, retry
//! state above the committed offset, producer idempotency for the keys of
//! stored messages (their 10-minute window restarts now), committed/failed
//! consume keys. Everything else — in-flight sets, attempts, cursors, empty
//! topics, created partition counts — is lost, as in the real broker.

use std::path::Path;
use std::time::Instant;

use crate::model::Message;
use crate::state::State;
use crate::state::topics::{Partition, Topic};
use crate::wal::record::decode_bytes;
use crate::wal::{Record, WalError};

impl State {
    /// Applies every record in order.
    pub fn restore(&mut self, records: Vec<Record>, path: &Path) -> Result<(), WalError> {
        let now = Instant::now();
        for (i, record) in records.into_iter().enumerate() {
            self.apply(record, now)
                .map_err(|reason| WalError::Corrupt {
                    path: path.to_path_buf(),
                    line: i + 1,
                    reason,
                })?;
        }
        // Retry state at or below the committed offset is purged.
        for t in self.topics.values_mut() {
            for g in t.groups.values_mut() {
                for gp in g.parts.values_mut() {
                    let committed = gp.committed;
                    gp.retry
                        .retain(|o, _| i128::from(*o) > i128::from(committed));
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, record: Record, now: Instant) -> Result<(), String> {
        match record {
            Record::Message(m) => {
                let msg = Message {
                    partition: m.partition,
                    offset: m.offset,
                    key: decode_bytes(&m.key)?,
                    value: decode_bytes(&m.value)?,
                    routing: m.routing,
                    envelope: m.envelope,
                    dlq: m.dlq,
                };
                self.restore_message(m.topic, msg, now)
            }
            Record::Commit {
                topic,
                group,
                partition,
                offset,
            } => {
                if let Some(t) = self.topics.get_mut(&topic) {
                    let g = t.groups.entry(group).or_default();
                    g.ever_committed = true;
                    g.parts.entry(partition).or_default().raise_commit(offset);
                }
                Ok(())
            }
            Record::Retry {
                topic,
                group,
                partition,
                offset,
                last_error,
                ..
            } => {
                if let Some(t) = self.topics.get_mut(&topic) {
                    let g = t.groups.entry(group).or_default();
                    g.parts
                        .entry(partition)
                        .or_default()
                        .retry
                        .insert(offset, last_error);
                }
                Ok(())
            }
            Record::ConsumeKey {
                tenant,
                topic,
                group,
                key,
                outcome,
            } => {
                self.consume_idem
                    .settle((tenant, topic, group, key), outcome);
                Ok(())
            }
        }
    }

    fn restore_message(&mut self, topic: String, msg: Message, now: Instant) -> Result<(), String> {
        if let Some(env) = msg
            .envelope
            .as_ref()
            .filter(|e| !e.idempotency_key.is_empty())
        {
            let key = (
                env.tenant_id.clone(),
                topic.clone(),
                env.idempotency_key.clone(),
            );
            self.producer_idem.commit(key, now);
        }
        let t = self.topics.entry(topic).or_insert_with(|| Topic::new(0));
        if msg.offset < t.next_offset && t.partitions.iter().any(|p| !p.messages.is_empty()) {
            return Err(format!(
                "offset {} is not above the previous one",
                msg.offset
            ));
        }
        // Q2: the partition count becomes the highest partition holding a message + 1.
        while t.partitions.len() <= msg.partition as usize {
            t.partitions.push(Partition::default());
        }
        // Sequence 0: restored messages are durable already.
        t.store(msg, 0);
        Ok(())
    }
}
