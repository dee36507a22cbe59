//! A consume stream that outlives the broker's moods: transient errors are logged (the
//! client reconnects by itself), and when the stream ends for good (e.g. the broker
//! restarted and forgot the empty topic) the topic is created again and the stream reopened,
//! with backoff. There is no read timeout: an idle topic sends nothing for hours (Q16).

use std::time::Duration;

use driftq_client::{Client, ConsumeRequest, Consumer, Message};
use futures::StreamExt;
use sidefx_core::metrics::record_broker_error;
use sidefx_core::telemetry::untrusted;
use tracing::{info, warn};

/// First delay before reopening a stream that ended; doubles per failed reopen.
const REOPEN_BASE: Duration = Duration::from_millis(100);
/// Longest delay between reopen attempts.
const REOPEN_MAX: Duration = Duration::from_secs(5);

/// One consumer of one topic in one group, reopened whenever it ends.
#[derive(Debug)]
pub struct Subscription {
    client: Client,
    request: ConsumeRequest,
    partitions: u32,
    consumer: Option<Consumer>,
    reopen_failures: u32,
}

impl Subscription {
    /// A subscription for `request`; the topic is (re)created with `partitions` when needed.
    /// Nothing is sent until [`Subscription::next`] is polled.
    pub fn new(client: Client, request: ConsumeRequest, partitions: u32) -> Self {
        Self {
            client,
            request,
            partitions,
            consumer: None,
            reopen_failures: 0,
        }
    }

    /// What this subscription consumes, e.g. for building ack targets.
    pub fn request(&self) -> &ConsumeRequest {
        &self.request
    }

    /// The next delivered message. Waits as long as it takes; cancel-safe (dropping the
    /// future loses no message), so it can sit in a `select!`.
    pub async fn next(&mut self) -> Message {
        loop {
            let Some(consumer) = self.consumer.as_mut() else {
                self.reopen().await;
                continue;
            };
            match consumer.next().await {
                Some(Ok(msg)) => {
                    self.reopen_failures = 0;
                    return msg;
                }
                Some(Err(err)) if err.is_transient() => {
                    record_broker_error(&err);
                    warn!(
                        topic = %self.request.topic,
                        error = %untrusted(&err.to_string()),
                        "consume: transient error, the client reconnects",
                    );
                }
                Some(Err(err)) => {
                    record_broker_error(&err);
                    warn!(
                        topic = %self.request.topic,
                        error = %untrusted(&err.to_string()),
                        "consume: refused; the stream ends and will be reopened",
                    );
                }
                None => {
                    warn!(
                        topic = %self.request.topic,
                        "consume: stream ended; ensuring the topic and reopening",
                    );
                    self.consumer = None;
                }
            }
        }
    }

    /// Creates the topic (a no-op when it exists) and opens a new stream. Deliberately not
    /// `Publisher::ensure_topic`: that one caches "exists", which is exactly what a broker
    /// restart made false.
    async fn reopen(&mut self) {
        if self.reopen_failures > 0 {
            let factor = 1u32
                .checked_shl(self.reopen_failures - 1)
                .unwrap_or(u32::MAX);
            tokio::time::sleep(REOPEN_BASE.saturating_mul(factor).min(REOPEN_MAX)).await;
        }
        self.reopen_failures = self.reopen_failures.saturating_add(1);
        let topic = &self.request.topic;
        match self.client.create_topic(topic, self.partitions).await {
            Ok(()) => {
                info!(topic = %topic, group = %self.request.group, owner = %self.request.owner,
                    lease_ms = ?self.request.lease_ms, "consume: opening stream");
                self.consumer = Some(self.client.consume(self.request.clone()));
            }
            Err(err) => {
                record_broker_error(&err);
                warn!(topic = %topic, error = %untrusted(&err.to_string()), "consume: cannot ensure topic; will retry")
            }
        }
    }
}
