//! Opening and closing consume streams (§3.3, §3.5).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::state::State;
use crate::state::groups::StreamSlot;
use crate::state::stream_budget::StreamBudget;

/// Identifies an open stream for [`State::close_stream`].
#[derive(Debug, Clone)]
pub struct StreamKey {
    /// Topic.
    pub topic: String,
    /// Group.
    pub group: String,
    /// Stream id.
    pub id: u64,
}

impl State {
    /// Registers a stream; the first stream of a group triggers a dispatch.
    pub fn open_stream(
        &mut self,
        topic: &str,
        group: &str,
        owner: &str,
        lease: Duration,
        budget: Arc<StreamBudget>,
        now: Instant,
    ) -> Result<(StreamKey, mpsc::UnboundedReceiver<Bytes>), ApiError> {
        let closed = self.closed;
        let id = self.next_stream_id;
        let t = self
            .topics
            .get_mut(topic)
            .ok_or_else(|| ApiError::invalid("topic does not exist"))?;
        self.next_stream_id += 1;
        let (tx, rx) = mpsc::unbounded_channel();
        let key = StreamKey {
            topic: topic.to_owned(),
            group: group.to_owned(),
            id,
        };
        if closed {
            // Shutting down: the sender is dropped at once, so the stream ends.
            return Ok((key, rx));
        }
        let g = t.groups.entry(group.to_owned()).or_default();
        let first = g.streams.is_empty();
        g.streams.slots.push(StreamSlot {
            id,
            owner: owner.to_owned(),
            lease,
            tx,
            budget,
        });
        if first {
            self.dispatch_group(topic, group, now);
        }
        Ok((key, rx))
    }

    /// Removes a stream at once; its in-flight messages keep their owner.
    pub fn close_stream(&mut self, key: &StreamKey) {
        if let Some(g) = self
            .topics
            .get_mut(&key.topic)
            .and_then(|t| t.groups.get_mut(&key.group))
        {
            g.streams.slots.retain(|s| s.id != key.id);
        }
    }

    /// Shutdown: drops every stream's sender, which ends the response bodies.
    pub fn close_all_streams(&mut self) {
        self.closed = true;
        for t in self.topics.values_mut() {
            for g in t.groups.values_mut() {
                g.streams.slots.clear();
            }
        }
    }
}
