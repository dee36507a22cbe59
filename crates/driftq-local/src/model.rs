//! The stored message and its metadata, and the NDJSON item a consumer sees.
//!
//! The same [`Envelope`] type is written to the WAL and rendered in stream
//! items; members are omitted when empty/zero exactly as the real broker's
//! HTTP envelope does, so one definition serves both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Routing metadata attached by the router hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    /// Routing label.
    pub label: String,
    /// Free-form metadata; omitted when empty. A `BTreeMap` renders keys sorted, like Go maps.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
}

impl Routing {
    /// The fixed routing that `driftqd`'s test router attaches to every produced message.
    pub fn test_router() -> Self {
        let meta = BTreeMap::from([("source".to_owned(), "router".to_owned())]);
        Routing {
            label: "test-label".to_owned(),
            meta,
        }
    }
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// Retry policy of a message; members are omitted when 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Deliveries before the message goes to the DLQ; ≤ 0 means unlimited.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_attempts: i64,
    /// Base backoff between timeout redeliveries.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub backoff_ms: i64,
    /// Cap of the backoff; 0 = no cap.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_backoff_ms: i64,
}

impl RetryPolicy {
    /// Delay before the redelivery that follows delivery number `n + 1` (§3.8):
    /// `min(backoff_ms · 2^(n−1), max_backoff_ms)`, `None` when no backoff is configured.
    pub fn backoff(&self, n: u32) -> Option<std::time::Duration> {
        if self.backoff_ms == 0 && self.max_backoff_ms == 0 {
            return None;
        }
        let base = u64::try_from(self.backoff_ms).unwrap_or(0);
        let shift = n.saturating_sub(1).min(40);
        let mut ms = base.saturating_mul(1u64 << shift);
        if let Ok(cap) = u64::try_from(self.max_backoff_ms)
            && cap > 0
        {
            ms = ms.min(cap);
        }
        Some(std::time::Duration::from_millis(ms))
    }
}

/// Internal DLQ metadata; written to the WAL, never shown to consumers (Q14).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DlqMeta {
    /// Topic the message was dead-lettered from.
    pub original_topic: String,
    /// Its partition there.
    pub original_partition: u32,
    /// Its offset there.
    pub original_offset: u64,
    /// Deliveries made before it was dead-lettered.
    pub attempts: u32,
    /// Accumulated `last_error`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_error: String,
    /// When it was routed to the DLQ (Unix ms).
    pub routed_at_ms: i64,
}

/// Producer-supplied metadata of a message; every member omitted when empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Workflow run id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub run_id: String,
    /// Workflow step id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub step_id: String,
    /// Parent step id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parent_step_id: String,
    /// Tenant; part of every idempotency scope.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tenant_id: String,
    /// Producer/consumer idempotency key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub idempotency_key: String,
    /// Topic the message was redirected to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_topic: String,
    /// Deadline, already rendered in Go's RFC 3339 form (it is never acted on after produce).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// Retry policy, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    /// Explicit partition; present whenever set, also when 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_override: Option<i64>,
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Partition within its topic.
    pub partition: u32,
    /// Topic-wide offset.
    pub offset: u64,
    /// Key bytes (empty = no key).
    pub key: Vec<u8>,
    /// Value bytes (never empty for produced messages).
    pub value: Vec<u8>,
    /// Routing metadata.
    pub routing: Option<Routing>,
    /// Envelope, if the producer sent one.
    pub envelope: Option<Envelope>,
    /// DLQ metadata, for copies in `dlq.*` topics.
    pub dlq: Option<DlqMeta>,
}

impl Message {
    /// Bytes counted by backpressure.
    pub fn size(&self) -> u64 {
        (self.key.len() + self.value.len()) as u64
    }

    /// The idempotency key, if non-empty.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.envelope
            .as_ref()
            .map(|e| e.idempotency_key.as_str())
            .filter(|k| !k.is_empty())
    }

    /// The tenant ("" when none).
    pub fn tenant(&self) -> &str {
        self.envelope.as_ref().map_or("", |e| e.tenant_id.as_str())
    }

    /// The retry policy, if any.
    pub fn retry_policy(&self) -> Option<RetryPolicy> {
        self.envelope.as_ref().and_then(|e| e.retry_policy)
    }
}

/// One NDJSON line of a consume stream (§2.6.3); member order is the wire order.
#[derive(Debug, Serialize)]
pub struct Item<'a> {
    partition: u32,
    offset: u64,
    attempts: u32,
    key: std::borrow::Cow<'a, str>,
    value: std::borrow::Cow<'a, str>,
    last_error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    routing: Option<&'a Routing>,
    #[serde(skip_serializing_if = "Option::is_none")]
    envelope: Option<&'a Envelope>,
}

impl<'a> Item<'a> {
    /// The item for one delivery of `msg`. Invalid UTF-8 shows as U+FFFD, as in Go.
    pub fn new(msg: &'a Message, attempts: u32, last_error: &'a str) -> Self {
        Item {
            partition: msg.partition,
            offset: msg.offset,
            attempts,
            key: String::from_utf8_lossy(&msg.key),
            value: String::from_utf8_lossy(&msg.value),
            last_error,
            routing: msg.routing.as_ref(),
            envelope: msg.envelope.as_ref(),
        }
    }

    /// The item as one `\n`-terminated line.
    pub fn to_line(&self) -> bytes::Bytes {
        bytes::Bytes::from(crate::json::body_line(self))
    }
}
