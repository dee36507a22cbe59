//! `ProduceRequest`: a builder for one message to produce, serialized as the
//! JSON body of `POST /v1/produce`.
//!
//! The JSON form is always used: the query form puts the value in the URL,
//! which breaks for large values, and it trims fields the JSON form keeps.

use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::model::{Envelope, RetryPolicy};

/// One message to produce, built with chained setters:
///
/// ```
/// use driftq_client::{ProduceRequest, RetryPolicy};
///
/// let request = ProduceRequest::new("orders", r#"{"id":42}"#)
///     .key("customer-7")
///     .idempotency_key("order-42")
///     .run_id("run-1")
///     .retry_policy(RetryPolicy { max_attempts: 5, backoff_ms: 100, max_backoff_ms: 2_000 });
/// assert_eq!(request.topic(), "orders");
/// ```
///
/// Envelope fields left unset are not sent; if none is set, no envelope is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProduceRequest {
    topic: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    key: String,
    value: String,
    #[serde(skip_serializing_if = "Envelope::is_empty")]
    envelope: Envelope,
}

impl ProduceRequest {
    /// A message for `topic` with `value` (must be non-empty; the broker answers 400 otherwise).
    pub fn new(topic: impl Into<String>, value: impl Into<String>) -> Self {
        ProduceRequest {
            topic: topic.into(),
            key: String::new(),
            value: value.into(),
            envelope: Envelope::default(),
        }
    }

    /// Partition key: messages with the same key go to the same partition.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// Producer idempotency key: repeating a produce with the same key (same
    /// tenant and final topic, within the broker's 10-minute window) stores
    /// the message once, so a produce whose answer was lost can be retried.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.envelope.idempotency_key = Some(key.into());
        self
    }

    /// Workflow run id.
    pub fn run_id(mut self, id: impl Into<String>) -> Self {
        self.envelope.run_id = Some(id.into());
        self
    }

    /// Workflow step id.
    pub fn step_id(mut self, id: impl Into<String>) -> Self {
        self.envelope.step_id = Some(id.into());
        self
    }

    /// Id of the step that caused this message.
    pub fn parent_step_id(mut self, id: impl Into<String>) -> Self {
        self.envelope.parent_step_id = Some(id.into());
        self
    }

    /// Tenant id (also scopes the idempotency key).
    pub fn tenant_id(mut self, id: impl Into<String>) -> Self {
        self.envelope.tenant_id = Some(id.into());
        self
    }

    /// Store the message in `topic` instead of the request's topic.
    pub fn target_topic(mut self, topic: impl Into<String>) -> Self {
        self.envelope.target_topic = Some(topic.into());
        self
    }

    /// Broker-side redelivery limit and backoff.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.envelope.retry_policy = Some(policy);
        self
    }

    /// Refuse the produce (400 `message deadline exceeded`) if `deadline` has
    /// already passed when the broker receives it. Sent as RFC 3339 UTC.
    pub fn deadline(mut self, deadline: SystemTime) -> Self {
        let utc: DateTime<Utc> = deadline.into();
        self.envelope.deadline = Some(utc.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        self
    }

    /// Put the message in this partition instead of the one the key hashes to.
    pub fn partition_override(mut self, partition: u32) -> Self {
        self.envelope.partition_override = Some(partition);
        self
    }

    /// The topic named in the request.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition key (empty when none).
    pub fn partition_key(&self) -> &str {
        &self.key
    }

    /// The payload.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The envelope that will be sent (empty = none).
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn plain_message_has_no_key_and_no_envelope() {
        let json = serde_json::to_string(&ProduceRequest::new("t", "v")).expect("serializable");
        assert_eq!(json, r#"{"topic":"t","value":"v"}"#);
    }

    #[test]
    fn every_option_lands_in_the_envelope() {
        let request = ProduceRequest::new("t", "v")
            .key("k")
            .idempotency_key("i")
            .run_id("r")
            .step_id("s")
            .parent_step_id("p")
            .tenant_id("tn")
            .target_topic("x")
            .retry_policy(RetryPolicy {
                max_attempts: 2,
                backoff_ms: 10,
                max_backoff_ms: 0,
            })
            .deadline(UNIX_EPOCH + Duration::from_millis(4_102_444_800_250))
            .partition_override(0);
        let json = serde_json::to_string(&request).expect("serializable");
        assert_eq!(
            json,
            concat!(
                r#"{"topic":"t","key":"k","value":"v","envelope":{"run_id":"r","step_id":"s","#,
                r#""parent_step_id":"p","tenant_id":"tn","idempotency_key":"i","target_topic":"x","#,
                r#""deadline":"2100-01-01T00:00:00.250Z","retry_policy":{"max_attempts":2,"backoff_ms":10},"#,
                r#""partition_override":0}}"#
            )
        );
    }
}
