//! Pumps one run's events from its DriftQ topic into an SSE stream.
//!
//! Each message is decoded into `sidefx_core::Event` and re-encoded (so clients only ever
//! see well-formed events), and acked once the response body has taken it. Dropping the
//! stream (the client went away, or shutdown) drops the consumer and its broker connection;
//! an event taken but not yet acked is redelivered to the group's next connection.

use std::convert::Infallible;

use axum::response::sse::Event as SseEvent;
use driftq_client::{AckTarget, ConsumeRequest, Consumer, Message};
use futures::{Stream, StreamExt, stream};
use serde::Serialize;
use sidefx_core::telemetry::untrusted;
use sidefx_core::{Event, Publisher, RunId};

/// Times in a row the events topic may be recreated before the stream gives up (a broker
/// that keeps forgetting it is misbehaving; the client can reconnect).
const MAX_TOPIC_RECOVERIES: u32 = 3;

/// The first SSE event of every stream, as the original sent it.
#[derive(Debug, Serialize)]
struct Connected<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    run_id: &'a RunId,
}

/// `sse.connected`, then every event of the run as it arrives. Never ends on its own unless
/// the broker refuses the consumer for good.
pub(crate) fn run_event_stream(
    publisher: Publisher,
    run_id: &RunId,
    request: ConsumeRequest,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send + use<> {
    let connected = to_sse(&Connected {
        kind: "sse.connected",
        run_id,
    })
    .unwrap_or_default();
    let pump = EventPump {
        consumer: publisher.client().consume(request),
        publisher,
        pending_ack: None,
        topic_recoveries: 0,
    };
    let events = stream::unfold(pump, |mut pump| async move {
        let event = pump.next_event().await?;
        Some((Ok(event), pump))
    });
    stream::once(async move { Ok(connected) }).chain(events)
}

/// The consumer plus what it still owes the broker.
struct EventPump {
    publisher: Publisher,
    consumer: Consumer,
    /// The message behind the last event handed out; acked when the next one is asked for,
    /// i.e. once the response body has taken the previous one.
    pending_ack: Option<AckTarget>,
    topic_recoveries: u32,
}

impl EventPump {
    /// The next event to send; `None` ends the SSE stream.
    async fn next_event(&mut self) -> Option<SseEvent> {
        if let Some(target) = self.pending_ack.take() {
            ack(self.publisher.client(), &target).await;
        }
        loop {
            let message = match self.consumer.next().await? {
                Ok(message) => message,
                Err(err) => {
                    self.recover(err).await?;
                    continue;
                }
            };
            self.topic_recoveries = 0;
            let target = self.consumer.request().ack_target(&message);
            match self.decode(&message) {
                Some(event) => {
                    self.pending_ack = Some(target);
                    return Some(event);
                }
                // Undecodable: it would fail for every client, so ack it and move on.
                None => ack(self.publisher.client(), &target).await,
            }
        }
    }

    /// Decides what a consumer error means; `None` ends the stream.
    async fn recover(&mut self, err: driftq_client::Error) -> Option<()> {
        let topic = self.consumer.request().topic.clone();
        if err.is_topic_missing() && self.topic_recoveries < MAX_TOPIC_RECOVERIES {
            // The broker forgets topics without messages when it restarts (PROTOCOL §3.13).
            self.topic_recoveries += 1;
            tracing::warn!(%topic, "events topic missing on the broker; recreating it");
            if let Err(err) = self.publisher.recreate_topic(&topic).await {
                tracing::warn!(%topic, error = %untrusted(&err.to_string()), "recreating the events topic failed");
            }
            let request = self.consumer.request().clone();
            self.consumer = self.publisher.client().consume(request);
            return Some(());
        }
        if err.is_transient() {
            // The consumer reconnects by itself (with backoff); just note it.
            tracing::debug!(%topic, error = %untrusted(&err.to_string()), "event consumer interrupted");
            return Some(());
        }
        tracing::warn!(%topic, error = %untrusted(&err.to_string()), "event consumer refused; ending the SSE stream");
        None
    }

    /// The SSE event for a message, or `None` (logged) if it is not a valid run event.
    fn decode(&self, message: &Message) -> Option<SseEvent> {
        match serde_json::from_str::<Event>(&message.value) {
            Ok(event) => to_sse(&event),
            Err(err) => {
                tracing::warn!(
                    topic = %self.consumer.request().topic,
                    partition = message.partition,
                    offset = message.offset,
                    error = %untrusted(&err.to_string()),
                    "skipping an event that does not decode"
                );
                None
            }
        }
    }
}

/// Acks a delivered message. A failed ack only means a redelivery to the next connection of
/// this group, so it is logged, never fatal. (A free function: borrowing the whole pump across
/// the `.await` would require the consumer to be `Sync`.)
async fn ack(client: &driftq_client::Client, target: &AckTarget) {
    match client.ack(target).await {
        Ok(()) => {}
        Err(err) if err.is_not_in_flight() => {
            tracing::debug!(offset = target.offset, "event already acked");
        }
        Err(err) => {
            tracing::warn!(topic = %target.topic, offset = target.offset, error = %untrusted(&err.to_string()), "event ack failed");
        }
    }
}

/// `data: <json>`; serializing our own types cannot fail, but if it did the event is skipped.
fn to_sse<T: Serialize>(value: &T) -> Option<SseEvent> {
    SseEvent::default()
        .json_data(value)
        .inspect_err(|err| tracing::error!(error = %untrusted(&err.to_string()), "cannot encode an SSE event"))
        .ok()
}
