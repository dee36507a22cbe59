//! The three messages that start a run — `run.created`, the first `run.command`,
//! `command.enqueued` — and the order in which they are published.
//!
//! They are built from the stored run (its id, request and creation time), so publishing them
//! again is harmless: every message carries its idempotency key and the broker drops
//! duplicates. That is what lets the run outbox publish a run again after its first publish
//! was cut short by a crash or a broker outage.

use sidefx_core::{
    COMMANDS_TOPIC, DLQ_TOPIC, Event, PublishError, Publisher, RunCommand, RunId, events_topic,
};

use crate::run_request::RunRequest;

/// The messages that start one run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunMessages {
    created: Event,
    command: RunCommand,
    enqueued: Event,
}

impl RunMessages {
    /// The messages of run `run_id`; `created_ms` (the stored creation time) is every `ts`,
    /// so a replay builds byte-identical messages.
    pub(crate) fn new(run_id: &RunId, request: &RunRequest, created_ms: i64) -> Self {
        RunMessages {
            created: Event::RunCreated {
                ts: created_ms,
                run_id: run_id.clone(),
                business_key: request.business_key.clone(),
                amount: request.amount,
            },
            command: request.first_command(run_id, created_ms),
            enqueued: Event::CommandEnqueued {
                ts: created_ms,
                run_id: run_id.clone(),
                attempt: 0,
            },
        }
    }

    /// `run.created` and `command.enqueued`: the events among them, for the run's history.
    pub(crate) fn first_events(&self) -> Vec<Event> {
        vec![self.created.clone(), self.enqueued.clone()]
    }

    /// Publishes in the original's order: the run's events topic first receives
    /// `run.created`, then the worker gets the command, then `command.enqueued` follows. A
    /// failure stops the sequence; the outbox publishes again from the start (see
    /// `outbox.rs`), and the broker drops what it already has by the messages' keys.
    pub(crate) async fn publish(&self, publisher: &Publisher) -> Result<(), PublishError> {
        // Like the original, make sure every topic of the flow exists before the first
        // message, so a worker that starts later finds the DLQ topic too.
        let events = events_topic(&self.command.run_id);
        for topic in [COMMANDS_TOPIC, DLQ_TOPIC, events.as_str()] {
            publisher.ensure_topic(topic).await?;
        }
        // The request's publish and the relay's can run at once for one run; the publisher
        // waits out the broker's "key already in-flight" for us.
        publisher.event(&self.created).await?;
        publisher.command(&self.command).await?;
        publisher.event(&self.enqueued).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::decode_json;
    use crate::run_request::CreateRunBody;

    #[test]
    fn messages_carry_the_originals_idempotency_keys() {
        let run_id = RunId::parse("r1").unwrap();
        let body: CreateRunBody = decode_json(br#"{"business_key":"order-1"}"#).unwrap();
        let messages = RunMessages::new(&run_id, &body.validate().unwrap(), 42);
        assert_eq!(messages.created.idempotency_key(), "evt:r1:created");
        assert_eq!(
            messages.command.idempotency_key(),
            "cmd:r1:charge_card:order-1:a0"
        );
        assert_eq!(messages.enqueued.idempotency_key(), "evt:r1:enq:a0");
        assert_eq!(messages, RunMessages::new(&run_id, &body_again(), 42));
    }

    fn body_again() -> RunRequest {
        let body: CreateRunBody = decode_json(br#"{"business_key":"order-1"}"#).unwrap();
        body.validate().unwrap()
    }
}
