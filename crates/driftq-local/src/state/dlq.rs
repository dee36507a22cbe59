//! Dead-letter copies (§3.9): `dlq.<topic>` is created on first use with the
//! source's partition count; the copy keeps key, value, routing and the
//! envelope minus `retry_policy`, `target_topic` and `partition_override`, is
//! placed by key hash, and passes through backpressure (but not the router,
//! producer idempotency or deadline checks).

use crate::error::OverloadReason;
use crate::model::{DlqMeta, Message};
use crate::partition;
use crate::state::State;
use crate::state::topics::Topic;

impl State {
    /// Publishes the DLQ copy of `msg`; refused only by backpressure.
    pub fn publish_dlq(
        &mut self,
        source: &str,
        msg: &Message,
        attempts: u32,
        last_error: &str,
    ) -> Result<(), OverloadReason> {
        let name = format!("dlq.{source}");
        let partitions = self.topics.get(source).map_or(1, Topic::partition_count);
        let dlq_topic = self
            .topics
            .entry(name.clone())
            .or_insert_with(|| Topic::new(partitions));
        let partition = partition::for_key(&msg.key, dlq_topic.partition_count());
        if let Err(reason) = dlq_topic.check_backpressure(partition, msg.size(), &self.limits) {
            *self.counters.rejected.entry(reason.as_str()).or_default() += 1;
            return Err(reason);
        }
        let mut envelope = msg.envelope.clone().unwrap_or_default();
        envelope.retry_policy = None;
        envelope.target_topic.clear();
        envelope.partition_override = None;
        let copy = Message {
            partition,
            offset: 0,
            key: msg.key.clone(),
            value: msg.value.clone(),
            routing: msg.routing.clone(),
            envelope: Some(envelope),
            dlq: Some(DlqMeta {
                original_topic: source.to_owned(),
                original_partition: msg.partition,
                original_offset: msg.offset,
                attempts,
                last_error: last_error.to_owned(),
                routed_at_ms: chrono::Utc::now().timestamp_millis(),
            }),
        };
        self.store_message(&name, copy);
        Ok(())
    }
}
