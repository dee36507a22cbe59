//! Sends acks. Acks are not idempotent in DriftQ (Q18) and redelivery may have moved a
//! message to another consumer (Q8), so "not in flight" and "not owner" answers mean
//! "someone already finished or took it" and are treated as done: the claim in the store,
//! not the ack, is what protects the side effect.

use std::time::Duration;

use driftq_client::{AckTarget, Client, Error};
use sidefx_core::metrics::record_broker_error;
use sidefx_core::telemetry::untrusted;
use tracing::{debug, info, warn};

/// Attempts per ack when the broker is briefly unreachable.
const ACK_ATTEMPTS: u32 = 3;

/// How an ack ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckResult {
    /// The broker accepted it.
    Acked,
    /// Already acked, or redelivered to another consumer: nothing left to do.
    AlreadyHandled,
    /// Refused or unreachable: DriftQ will redeliver and the idempotent step will find the
    /// effect done.
    Failed,
}

/// Acks `target`, retrying transient failures a few times.
pub async fn ack(client: &Client, target: &AckTarget) -> AckResult {
    let (partition, offset) = (target.partition, target.offset);
    for attempt in 1..=ACK_ATTEMPTS {
        match client.ack(target).await {
            Ok(()) => {
                // Debug: one line per message; the step's "message handled" line says it all.
                debug!(topic = %target.topic, partition, offset, "ack");
                return AckResult::Acked;
            }
            Err(err) if err.is_not_in_flight() || matches!(err, Error::NotOwner) => {
                record_broker_error(&err);
                info!(topic = %target.topic, partition, offset, answer = %err,
                    "ack: already acked or redelivered elsewhere; treated as done");
                return AckResult::AlreadyHandled;
            }
            Err(err) if err.is_transient() && attempt < ACK_ATTEMPTS => {
                record_broker_error(&err);
                warn!(
                    topic = %target.topic,
                    partition,
                    offset,
                    error = %untrusted(&err.to_string()),
                    attempt,
                    "ack failed; retrying",
                );
                tokio::time::sleep(Duration::from_millis(100) * attempt).await;
            }
            Err(err) => {
                record_broker_error(&err);
                // E.g. a keyed message whose lease expired while it waited for a lower offset
                // (Q10): the broker redelivers it and the step skips the done effect.
                warn!(
                    topic = %target.topic,
                    partition,
                    offset,
                    error = %untrusted(&err.to_string()),
                    "ack failed; DriftQ will redeliver",
                );
                return AckResult::Failed;
            }
        }
    }
    AckResult::Failed
}
