//! Topic creation and the produce path (§2.4, §2.5.3).

use std::time::Instant;

use crate::error::ApiError;
use crate::model::{Envelope, Message, Routing};
use crate::partition;
use crate::state::State;
use crate::state::idempotency::{ProducerKey, Reservation};
use crate::state::topics::Topic;
use crate::wal::Record;

/// A produce request that passed syntax validation (§2.5.1, §2.5.2).
#[derive(Debug, Clone)]
pub struct ProduceRequest {
    /// Topic as sent (untrimmed; only its blankness was checked).
    pub topic: String,
    /// Key bytes.
    pub key: Vec<u8>,
    /// Value bytes (non-empty).
    pub value: Vec<u8>,
    /// Envelope, if any.
    pub envelope: Option<Envelope>,
    /// The deadline as an instant, checked once here.
    pub deadline: Option<chrono::DateTime<chrono::Utc>>,
}

/// Result of the locked part of a produce.
#[derive(Debug)]
pub enum Produced {
    /// A committed idempotency key: answer 200, nothing stored.
    Duplicate,
    /// Stored; the caller waits for `seq` to be durable and then settles `idem`.
    Stored {
        /// WAL sequence number of the message.
        seq: u64,
        /// The reserved idempotency scope, if any.
        idem: Option<ProducerKey>,
    },
}

impl State {
    /// Creates a topic unless it exists (Q3: an existing topic keeps its partition count).
    pub fn create_topic(&mut self, name: &str, partitions: u32) {
        if !self.topics.contains_key(name) {
            self.topics.insert(name.to_owned(), Topic::new(partitions));
        }
    }

    /// Steps 1–8 of §2.5.3 under the lock; durability is awaited by the caller.
    pub fn produce(&mut self, req: ProduceRequest, now: Instant) -> Result<Produced, ApiError> {
        let routing = Routing::test_router();
        if req.deadline.is_some_and(|d| d < chrono::Utc::now()) {
            return Err(ApiError::invalid("message deadline exceeded"));
        }
        let envelope = req.envelope.as_ref();
        let final_topic = match envelope.map(|e| e.target_topic.as_str()) {
            Some(t) if !t.is_empty() => t.to_owned(),
            _ => req.topic.clone(),
        };
        let idem = envelope.filter(|e| !e.idempotency_key.is_empty()).map(|e| {
            (
                e.tenant_id.clone(),
                final_topic.clone(),
                e.idempotency_key.clone(),
            )
        });
        if let Some(key) = &idem
            && self.producer_idem.reserve(key, now)? == Reservation::Duplicate
        {
            return Ok(Produced::Duplicate);
        }
        match self.place(&final_topic, &req) {
            Ok(partition) => {
                let msg = Message {
                    partition,
                    offset: 0,
                    key: req.key,
                    value: req.value,
                    routing: Some(routing),
                    envelope: req.envelope,
                    dlq: None,
                };
                let seq = self.store_message(&final_topic, msg);
                Ok(Produced::Stored { seq, idem })
            }
            Err(e) => {
                if let Some(key) = idem {
                    self.producer_idem.fail(key, now);
                }
                Err(e)
            }
        }
    }

    /// Steps 5–7: the topic exists, the partition is chosen, backpressure allows it.
    fn place(&mut self, topic: &str, req: &ProduceRequest) -> Result<u32, ApiError> {
        let t = self
            .topics
            .get(topic)
            .ok_or_else(|| ApiError::invalid("topic does not exist (create it first)"))?;
        let count = t.partition_count();
        let partition = match req.envelope.as_ref().and_then(|e| e.partition_override) {
            Some(p) => u32::try_from(p)
                .ok()
                .filter(|p| *p < count)
                .ok_or_else(|| ApiError::invalid("partition_override out of range"))?,
            None => partition::for_key(&req.key, count),
        };
        let size = (req.key.len() + req.value.len()) as u64;
        if let Err(reason) = t.check_backpressure(partition, size, &self.limits) {
            *self.counters.rejected.entry(reason.as_str()).or_default() += 1;
            return Err(ApiError::Overloaded(reason));
        }
        Ok(partition)
    }

    /// Step 8: assigns the next topic-wide offset, queues the WAL record, stores
    /// the message and marks the topic for dispatch once the record is durable.
    pub fn store_message(&mut self, topic: &str, mut msg: Message) -> u64 {
        let Some(t) = self.topics.get_mut(topic) else {
            return 0;
        };
        msg.offset = t.next_offset;
        let seq = self.log.append(&Record::message(topic, &msg));
        t.store(msg, seq);
        self.pending.insert(topic.to_owned());
        seq
    }

    /// After the produce's record is durable (or failed): settles the idempotency key.
    pub fn settle_produce(&mut self, idem: Option<ProducerKey>, ok: bool, now: Instant) {
        if let Some(key) = idem {
            if ok {
                self.producer_idem.commit(key, now);
            } else {
                self.producer_idem.fail(key, now);
            }
        }
    }

    /// Dispatches topics whose pending messages became durable.
    pub fn dispatch_durable(&mut self, now: Instant) {
        let durable = self.durable();
        // Every pending topic is dispatched; the ones with records still on their way to
        // disk stay pending. Taking the set moves its names instead of cloning them: this
        // runs after every WAL sync, i.e. hundreds of times a second under load.
        for topic in std::mem::take(&mut self.pending) {
            let partial = self.topics.get(&topic).is_some_and(|t| t.max_seq > durable);
            // Topics with some durable messages are dispatched too: dispatch stops at
            // the first non-durable message, so this only moves what is safe.
            self.dispatch_topic(&topic, now);
            if partial {
                self.pending.insert(topic);
            }
        }
    }
}
