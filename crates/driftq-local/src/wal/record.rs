//! One WAL line. Keys and values are raw bytes, so they are stored base64.
//!
//! Topics are deliberately *not* recorded: the real broker rebuilds them from
//! their messages only (quirk Q2), and local behaviour has to match that.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::model::{DlqMeta, Envelope, Message, Routing};

/// A consume-side idempotency outcome that survives restarts (§3.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyOutcome {
    /// The group acked a message with this key; later copies are skipped.
    Committed,
    /// A delivery was nacked; the key may be taken again.
    Failed,
}

/// A WAL line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// A stored message.
    Message(Box<MessageRecord>),
    /// A group's committed offset for a partition went up.
    Commit {
        /// Topic.
        topic: String,
        /// Group.
        group: String,
        /// Partition.
        partition: u32,
        /// New committed offset.
        offset: u64,
    },
    /// A message's accumulated `last_error` changed.
    Retry {
        /// Topic.
        topic: String,
        /// Group.
        group: String,
        /// Partition.
        partition: u32,
        /// Offset.
        offset: u64,
        /// The whole accumulated text.
        last_error: String,
        /// When (Unix ms).
        at_ms: i64,
    },
    /// A consume-side idempotency key was committed or failed.
    ConsumeKey {
        /// Tenant.
        tenant: String,
        /// Topic.
        topic: String,
        /// Group.
        group: String,
        /// Idempotency key.
        key: String,
        /// Outcome.
        outcome: KeyOutcome,
    },
}

/// The fields of a message record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Topic it is stored in.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Topic-wide offset.
    pub offset: u64,
    /// Key, base64.
    pub key: String,
    /// Value, base64.
    pub value: String,
    /// Routing metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<Routing>,
    /// Envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Envelope>,
    /// DLQ metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dlq: Option<DlqMeta>,
}

impl Record {
    /// The record of a stored message.
    pub fn message(topic: &str, msg: &Message) -> Self {
        Record::Message(Box::new(MessageRecord {
            topic: topic.to_owned(),
            partition: msg.partition,
            offset: msg.offset,
            key: B64.encode(&msg.key),
            value: B64.encode(&msg.value),
            routing: msg.routing.clone(),
            envelope: msg.envelope.clone(),
            dlq: msg.dlq.clone(),
        }))
    }

    /// One JSON line including its `\n`.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

/// Decodes a base64 field of a message record.
pub fn decode_bytes(field: &str) -> Result<Vec<u8>, String> {
    B64.decode(field).map_err(|e| format!("bad base64: {e}"))
}
