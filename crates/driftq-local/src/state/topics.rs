//! Topics and partitions: the stored log of messages and backpressure (§3.1, §3.11).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::Limits;
use crate::error::OverloadReason;
use crate::model::Message;
use crate::state::groups::Group;

/// A message in a partition together with the WAL sequence number of its record.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The message.
    pub msg: Arc<Message>,
    /// WAL sequence number; the message is delivered only once this is durable.
    pub seq: u64,
}

/// One partition: messages in offset order (offsets come from the topic-wide counter).
#[derive(Debug, Default)]
pub struct Partition {
    /// Messages, offsets strictly increasing.
    pub messages: Vec<Stored>,
    /// `cum_bytes[i]` = key+value bytes of `messages[..=i]`, so buffered bytes are O(log n).
    cum_bytes: Vec<u64>,
}

impl Partition {
    /// Appends a message (its offset is higher than every stored one).
    pub fn push(&mut self, stored: Stored) {
        let before = self.cum_bytes.last().copied().unwrap_or(0);
        self.cum_bytes.push(before + stored.msg.size());
        self.messages.push(stored);
    }

    /// Index of the first message with an offset greater than `offset`.
    pub fn first_after(&self, offset: i64) -> usize {
        self.messages
            .partition_point(|s| i128::from(s.msg.offset) <= i128::from(offset))
    }

    /// Index of the message with exactly this offset.
    pub fn find(&self, offset: u64) -> Option<usize> {
        self.messages
            .binary_search_by_key(&offset, |s| s.msg.offset)
            .ok()
    }

    /// Count and bytes of the messages above `offset`.
    fn buffered_above(&self, offset: i64) -> (usize, u64) {
        let idx = self.first_after(offset);
        let total = self.cum_bytes.last().copied().unwrap_or(0);
        let below = if idx == 0 { 0 } else { self.cum_bytes[idx - 1] };
        (self.messages.len() - idx, total - below)
    }
}

/// A topic: fixed partitions, one offset counter, and its consumer groups.
#[derive(Debug)]
pub struct Topic {
    /// Partitions `0..N`.
    pub partitions: Vec<Partition>,
    /// Next topic-wide offset.
    pub next_offset: u64,
    /// Consumer groups by name.
    pub groups: BTreeMap<String, Group>,
    /// Highest WAL sequence number of a message in this topic.
    pub max_seq: u64,
}

impl Topic {
    /// An empty topic with `partitions` partitions.
    pub fn new(partitions: u32) -> Self {
        Topic {
            partitions: (0..partitions).map(|_| Partition::default()).collect(),
            next_offset: 0,
            groups: BTreeMap::new(),
            max_seq: 0,
        }
    }

    /// Number of partitions.
    pub fn partition_count(&self) -> u32 {
        u32::try_from(self.partitions.len()).unwrap_or(u32::MAX)
    }

    /// Stores a message whose offset was taken from `next_offset`.
    pub fn store(&mut self, msg: Message, seq: u64) -> Arc<Message> {
        let msg = Arc::new(msg);
        self.next_offset = self.next_offset.max(msg.offset + 1);
        self.max_seq = self.max_seq.max(seq);
        if let Some(p) = self.partitions.get_mut(msg.partition as usize) {
            p.push(Stored {
                msg: Arc::clone(&msg),
                seq,
            });
        }
        msg
    }

    /// §3.11: refuses when the partition holds too many messages (checked first)
    /// or bytes above the slowest committed offset of the groups that ever committed.
    pub fn check_backpressure(
        &self,
        partition: u32,
        new_bytes: u64,
        limits: &Limits,
    ) -> Result<(), OverloadReason> {
        let Some(p) = self.partitions.get(partition as usize) else {
            return Ok(());
        };
        let slowest = self
            .groups
            .values()
            .filter(|g| g.ever_committed)
            .map(|g| g.parts.get(&partition).map_or(-1, |gp| gp.committed))
            .min()
            .unwrap_or(-1);
        let (count, bytes) = p.buffered_above(slowest);
        if count >= limits.buffer_messages {
            return Err(OverloadReason::BufferFull);
        }
        if bytes + new_bytes >= limits.buffer_bytes {
            return Err(OverloadReason::BufferBytesFull);
        }
        Ok(())
    }
}
