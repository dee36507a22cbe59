//! The data the broker sends and receives: consumed messages with their
//! envelope and routing, the retry policy, ack targets, health and version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One item of a consume stream: a delivered message.
///
/// Deliveries are at least once: the same `(partition, offset)` can arrive
/// again with a higher `attempts` after a lease expired or a nack, and items
/// may arrive out of offset order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    /// Partition of the topic that holds the message.
    pub partition: u32,
    /// Offset of the message; unique within the topic (one counter shared by all partitions).
    pub offset: u64,
    /// Deliveries of this message in the broker's current process, starting at 1.
    pub attempts: u32,
    /// The producer's key (empty when none).
    #[serde(default)]
    pub key: String,
    /// The payload.
    #[serde(default)]
    pub value: String,
    /// Accumulated failure text (`ack_timeout`, nack reasons joined by ` | `); empty on a first delivery.
    #[serde(default)]
    pub last_error: String,
    /// Routing metadata attached by the broker's router, if any.
    #[serde(default)]
    pub routing: Option<Routing>,
    /// Workflow metadata, present only if the producer sent an envelope.
    #[serde(default)]
    pub envelope: Option<Envelope>,
}

/// Routing metadata attached by the broker when the message was produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Routing {
    /// Routing label.
    #[serde(default)]
    pub label: String,
    /// Free-form routing attributes.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
}

/// Workflow metadata carried with a message. Every field is optional; the
/// broker omits empty ones. Used both to produce (see
/// [`crate::ProduceRequest`]) and in consumed [`Message`]s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Workflow run the message belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Step of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    /// Step that caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_step_id: Option<String>,
    /// Tenant; part of the producer idempotency scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Producer idempotency key: a second produce with the same key (same
    /// tenant and final topic, within 10 minutes) stores nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Topic the message is actually stored in, instead of the request's topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_topic: Option<String>,
    /// RFC 3339 deadline, as sent on the wire. Only checked at produce time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// Redelivery limit and backoff; after `max_attempts` the message goes to `dlq.<topic>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    /// Partition chosen by the producer instead of the key hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_override: Option<u32>,
}

impl Envelope {
    /// True when no field is set; such an envelope is not sent at all.
    pub fn is_empty(&self) -> bool {
        *self == Envelope::default()
    }
}

/// Broker-side redelivery policy of a message.
///
/// Values are signed: the broker accepts and echoes negative values sent by other producers
/// in the JSON form, and whatever it echoes must decode. Note that the broker ignores backoff on nack and never delays the first
/// redelivery; backoff only spaces out later lease timeouts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Deliveries before the message is dead-lettered; 0 = unlimited.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_attempts: i64,
    /// Base backoff between redeliveries, doubled per attempt.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub backoff_ms: i64,
    /// Upper bound of the backoff; 0 = no bound.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_backoff_ms: i64,
}

/// Identifies one delivered message for [`crate::Client::ack`] and
/// [`crate::Client::nack`]; build it with [`crate::ConsumeRequest::ack_target`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AckTarget {
    /// Topic the message was consumed from.
    pub topic: String,
    /// Consumer group.
    pub group: String,
    /// Owner name the message was delivered to.
    pub owner: String,
    /// Partition of the message.
    pub partition: u32,
    /// Offset of the message.
    pub offset: u64,
}

/// Answer of `GET /v1/healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Health {
    /// `ok` when the broker is serving.
    pub status: String,
}

/// Answer of `GET /v1/version`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VersionInfo {
    /// Build version (`dev` when not stamped).
    pub version: String,
    /// Build commit (`unknown` when not stamped).
    pub commit: String,
    /// Whether the broker persists messages in a write-ahead log.
    pub wal_enabled: bool,
}

/// Signed because the broker accepts and echoes negative values sent by other producers in
/// the JSON form (PROTOCOL §2.5.2); an unsigned field would make such a message undecodable.
fn is_zero(value: &i64) -> bool {
    *value == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_full_item() {
        let line = r#"{"partition":0,"offset":5,"attempts":1,"key":"k","value":"v","last_error":"",
            "routing":{"label":"test-label","meta":{"source":"router"}},
            "envelope":{"run_id":"r","step_id":"s","parent_step_id":"p","tenant_id":"t",
            "idempotency_key":"i","target_topic":"x","deadline":"2099-01-02T03:04:05Z",
            "retry_policy":{"max_attempts":5,"backoff_ms":100,"max_backoff_ms":1000},
            "partition_override":0}}"#;
        let msg: Message = serde_json::from_str(line).expect("valid item");
        assert_eq!((msg.partition, msg.offset, msg.attempts), (0, 5, 1));
        let routing = msg.routing.expect("routing");
        assert_eq!(
            routing.meta.get("source").map(String::as_str),
            Some("router")
        );
        let envelope = msg.envelope.expect("envelope");
        assert_eq!(envelope.run_id.as_deref(), Some("r"));
        assert_eq!(envelope.partition_override, Some(0));
        let policy = envelope.retry_policy.expect("policy");
        assert_eq!(
            (
                policy.max_attempts,
                policy.backoff_ms,
                policy.max_backoff_ms
            ),
            (5, 100, 1000)
        );
    }

    #[test]
    fn decodes_minimal_item_and_ignores_unknown_members() {
        let line = r#"{"partition":1,"offset":2,"attempts":3,"key":"","value":" ","last_error":"nack","future":true,"envelope":{}}"#;
        let msg: Message = serde_json::from_str(line).expect("valid item");
        assert_eq!(msg.value, " ");
        assert!(msg.routing.is_none());
        assert!(msg.envelope.expect("empty envelope").is_empty());
    }

    #[test]
    fn empty_fields_are_not_serialized() {
        let envelope = Envelope {
            run_id: Some("r".into()),
            retry_policy: Some(RetryPolicy {
                max_attempts: 3,
                ..RetryPolicy::default()
            }),
            ..Envelope::default()
        };
        let json = serde_json::to_string(&envelope).expect("serializable");
        assert_eq!(json, r#"{"run_id":"r","retry_policy":{"max_attempts":3}}"#);
    }
}
