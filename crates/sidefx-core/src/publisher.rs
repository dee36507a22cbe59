//! Typed publishing: every message goes out as its JSON with its idempotency key, to a topic
//! that is created when the broker says it is missing.
//!
//! A produce goes straight to the broker: asking first ("does it exist?") or creating first
//! would cost a round trip per message, and the topic nearly always exists (the worker
//! publishes to event topics the API created). If the broker answers "topic does not exist"
//! (never created, or forgotten: DriftQ drops empty topics when it restarts), the publisher
//! creates it and retries once. That refused produce stored nothing and released its
//! idempotency key, so the retry is the first real attempt.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use driftq_client::{Client, ProduceRequest};

use crate::messages::{Command, DlqRecord, Event, RunCommand};
use crate::metrics::record_broker_error;
use crate::topics::{COMMANDS_TOPIC, DLQ_TOPIC, EVENTS_TOPIC_PREFIX, events_topic, partitions_for};

#[cfg(test)]
mod tests;

/// Retries of a produce refused with "key already in-flight" (see `produce_when_key_free`).
const KEY_IN_FLIGHT_RETRIES: u32 = 6;
/// First wait after "key already in-flight"; doubled per retry.
const KEY_IN_FLIGHT_FIRST_DELAY: std::time::Duration = std::time::Duration::from_millis(20);
/// A publish failed. The broker's error is kept so callers can tell transient failures and
/// backpressure (retry later, do not ack) from refusals.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Creating the topic failed.
    #[error("creating topic {topic}: {source}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The broker's answer.
        #[source]
        source: driftq_client::Error,
    },
    /// The produce failed.
    #[error("producing to {topic}: {source}")]
    Produce {
        /// The topic.
        topic: String,
        /// The broker's answer.
        #[source]
        source: driftq_client::Error,
    },
    /// The message could not be encoded (not expected for these types).
    #[error("encoding message: {0}")]
    Encode(#[from] serde_json::Error),
}

impl PublishError {
    /// The DriftQ error behind this one, if any.
    pub fn driftq_error(&self) -> Option<&driftq_client::Error> {
        match self {
            PublishError::CreateTopic { source, .. } | PublishError::Produce { source, .. } => {
                Some(source)
            }
            PublishError::Encode(_) => None,
        }
    }

    /// True if trying again later may succeed (transport failure, 429, 5xx).
    pub fn is_transient(&self) -> bool {
        self.driftq_error()
            .is_some_and(driftq_client::Error::is_transient)
    }

    /// True if the broker refused for backpressure (429).
    pub fn is_backpressure(&self) -> bool {
        matches!(
            self.driftq_error(),
            Some(driftq_client::Error::Backpressure { .. })
        )
    }
}

/// Publishes commands, events and dead letters; cheap to clone (an `Arc` inside).
#[derive(Debug, Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    /// Shared topics (commands, DLQ) this process created. A cache, not the truth: see the
    /// module docs for when an entry goes stale. Per-run event topics are never cached: one
    /// entry per run would grow for the life of the process.
    known_topics: Mutex<HashSet<String>>,
}

impl Publisher {
    /// A publisher over `client` with an empty topic cache.
    pub fn new(client: Client) -> Self {
        let inner = Inner {
            client,
            known_topics: Mutex::new(HashSet::new()),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The underlying client (for consuming and acking).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Creates `topic` unless this process already did (per-run event topics: every call
    /// creates). The commands topic gets `COMMANDS_PARTITIONS` partitions, every other topic
    /// one. Creating an existing topic is not an error, so concurrent callers (or processes)
    /// may race here harmlessly.
    pub async fn ensure_topic(&self, topic: &str) -> Result<(), PublishError> {
        if self.topics().contains(topic) {
            return Ok(());
        }
        let created = self
            .inner
            .client
            .create_topic(topic, partitions_for(topic))
            .await;
        created.map_err(|source| {
            record_broker_error(&source);
            PublishError::CreateTopic {
                topic: topic.to_owned(),
                source,
            }
        })?;
        if !topic.starts_with(EVENTS_TOPIC_PREFIX) {
            self.topics().insert(topic.to_owned());
        }
        Ok(())
    }

    /// Forgets that `topic` exists and creates it again. For consumers: DriftQ forgets topics
    /// that hold no message when it restarts, and a consume of a missing topic fails.
    pub async fn recreate_topic(&self, topic: &str) -> Result<(), PublishError> {
        self.topics().remove(topic);
        self.ensure_topic(topic).await
    }

    /// Puts a command on the commands topic, keyed by run id (one run's commands stay on one
    /// partition) with the command's `cmd:...:a<n>` idempotency key.
    pub async fn command(&self, c: &RunCommand) -> Result<(), PublishError> {
        self.command_keyed(c, c.idempotency_key()).await
    }

    /// Puts a command again after the broker lost it (see the worker's `redrive`), under
    /// `<cmd key>:r<stamp>`: the original key would be dropped as a duplicate for as long as
    /// the broker remembers it, although the message it stands for will never be delivered.
    /// `stamp` is the redrive's fencing stamp from the store, so two workers redriving the
    /// same stall publish one message.
    pub async fn redrive(&self, c: &RunCommand, stamp: i64) -> Result<(), PublishError> {
        self.command_keyed(c, format!("{}:r{stamp}", c.idempotency_key()))
            .await
    }

    async fn command_keyed(&self, c: &RunCommand, key: String) -> Result<(), PublishError> {
        let json = serde_json::to_string(&Command::Run(c.clone()))?;
        let req = ProduceRequest::new(COMMANDS_TOPIC, json)
            .key(c.run_id.as_str())
            .idempotency_key(key)
            .run_id(c.run_id.as_str())
            .step_id(c.step_id.as_str());
        self.produce(COMMANDS_TOPIC, &req).await
    }

    /// Puts an event on its run's event topic with its `evt:...` idempotency key.
    pub async fn event(&self, e: &Event) -> Result<(), PublishError> {
        let topic = events_topic(e.run_id());
        let req = ProduceRequest::new(&topic, serde_json::to_string(e)?)
            .idempotency_key(e.idempotency_key())
            .run_id(e.run_id().as_str());
        self.produce(&topic, &req).await
    }

    /// Puts a dead letter on the DLQ topic with its `dlq:...` idempotency key.
    pub async fn dead_letter(&self, d: &DlqRecord) -> Result<(), PublishError> {
        let req = ProduceRequest::new(DLQ_TOPIC, serde_json::to_string(d)?)
            .key(d.run_id.as_str())
            .idempotency_key(d.idempotency_key())
            .run_id(d.run_id.as_str())
            .step_id(d.step_id.as_str());
        self.produce(DLQ_TOPIC, &req).await
    }

    /// Produces; if the topic is missing, creates it and retries once (see the module docs);
    /// if another request is storing the same idempotency key right now, waits for it.
    /// Every broker failure is counted in `sidefx_broker_errors_total`.
    async fn produce(&self, topic: &str, req: &ProduceRequest) -> Result<(), PublishError> {
        let produced = match self.produce_when_key_free(req).await {
            Err(e) if e.is_topic_missing() => {
                record_broker_error(&e);
                tracing::debug!(
                    topic,
                    "topic missing (new, or broker restarted); creating it"
                );
                self.recreate_topic(topic).await?;
                self.produce_when_key_free(req).await
            }
            other => other,
        };
        produced.map_err(|source| {
            record_broker_error(&source);
            PublishError::Produce {
                topic: topic.to_owned(),
                source,
            }
        })
    }

    /// Two producers of one keyed message (two workers on one redelivered command, two
    /// replays of one `Idempotency-Key`) collide here: the broker refuses the second with
    /// "key already in-flight" while the first is being stored. Once that one finishes, the
    /// broker answers "produced" (deduplicated), or stores ours if the first failed; so wait
    /// a moment and try again: 20 ms doubling, about 1.3 s in all.
    async fn produce_when_key_free(
        &self,
        req: &ProduceRequest,
    ) -> Result<(), driftq_client::Error> {
        let mut delay = KEY_IN_FLIGHT_FIRST_DELAY;
        for _ in 0..KEY_IN_FLIGHT_RETRIES {
            match self.inner.client.produce(req).await {
                Err(e) if e.is_key_in_flight() => {
                    record_broker_error(&e);
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                other => return other,
            }
        }
        self.inner.client.produce(req).await
    }

    /// The topic cache. Never held across an `.await`; a poisoned lock still holds a valid
    /// set (inserts and removes cannot half-happen), so it is recovered.
    fn topics(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.inner
            .known_topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
