//! The three messages that start a run — `run.created`, the first `run.command`,
//! `command.enqueued` — and the order in which they are published.
//!
//! They are built from the stored run (its id, request and creation time), so publishing them
//! again is harmless: every message carries its idempotency key and the broker drops
//! duplicates. That is what lets an `Idempotency-Key` replay finish a run whose first
//! publish was cut short by a crash or a broker outage.

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

    /// Publishes in the original's order: the run's events topic first receives
    /// `run.created`, then the worker gets the command, then `command.enqueued` follows. A
    /// failure stops the sequence; the caller reports it, and a retry with the same
    /// `Idempotency-Key` publishes again from the start.
    pub(crate) async fn publish(&self, publisher: &Publisher) -> Result<(), PublishFailure> {
        let not_stored = |error| PublishFailure {
            command_refused: true,
            error,
        };
        // Like the original, make sure every topic of the flow exists before the first
        // message, so a worker that starts later finds the DLQ topic too.
        let events = events_topic(&self.command.run_id);
        for topic in [COMMANDS_TOPIC, DLQ_TOPIC, events.as_str()] {
            publisher.ensure_topic(topic).await.map_err(not_stored)?;
        }
        // Two concurrent replays of one `Idempotency-Key` publish the same keyed messages at
        // once; the publisher waits out the broker's "key already in-flight" for us.
        publisher.event(&self.created).await.map_err(not_stored)?;
        publisher
            .command(&self.command)
            .await
            .map_err(|error| PublishFailure {
                command_refused: refused_before_storing(&error),
                error,
            })?;
        publisher
            .event(&self.enqueued)
            .await
            .map_err(|error| PublishFailure {
                command_refused: false,
                error,
            })
    }
}

/// A failed [`RunMessages::publish`], and whether the run's command is certainly not on the
/// commands topic (so nothing will run unless the client re-sends the request).
#[derive(Debug)]
pub(crate) struct PublishFailure {
    /// True only when the broker never stored the command: it failed before the command's
    /// produce, or the produce was answered with a refusal or never connected. A timeout or
    /// a cut connection after sending is *not* a refusal: the broker may have stored it.
    pub(crate) command_refused: bool,
    /// What went wrong.
    pub(crate) error: PublishError,
}

/// True when `error` proves the produce was not stored: the broker answered with a refusal
/// (full partition, invalid request, unknown topic) or the connection was never made.
fn refused_before_storing(error: &PublishError) -> bool {
    use driftq_client::Error;
    match error.driftq_error() {
        Some(
            Error::Backpressure { .. } | Error::InvalidArgument { .. } | Error::NotFound { .. },
        ) => true,
        Some(Error::Transport(err)) => err.is_connect(),
        Some(_) => false,
        // Encoding failed, so nothing was sent.
        None => true,
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
