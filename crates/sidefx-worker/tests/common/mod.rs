//! Shared test helpers: the kit's stack with this crate's worker, reading a run's events,
//! the step-test harness.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::time::Duration;

use driftq_client::{Client, ConsumeRequest};
use futures::StreamExt;
use sidefx_core::{BusinessKey, Event, FailMode, RunCommand, RunId, StepId, events_topic, now_ms};

pub mod harness;

/// The kit's stack running this crate's own worker binary (the one cargo built for these
/// tests).
pub fn stack() -> sidefx_testkit::TestStackBuilder {
    sidefx_testkit::TestStack::builder().worker_bin(env!("CARGO_BIN_EXE_sidefx-worker"))
}

/// A first-attempt command for a fresh run.
pub fn command(business_key: &str) -> RunCommand {
    let run_id = RunId::generate();
    RunCommand {
        ts: now_ms(),
        events_topic: events_topic(&run_id),
        run_id,
        step_id: StepId::charge_card(),
        business_key: BusinessKey::parse(business_key).expect("valid key"),
        amount: 49.99,
        attempt: 0,
        max_attempts: 3,
        fail_before_effect_n: 0,
        fail_mode: FailMode::None,
        redrive: None,
    }
}

/// Reads the run's event topic (in a fresh consumer group, acking as it goes: DriftQ
/// delivers at most 2 unacked messages per partition) until `done` holds for the events
/// read so far, in offset order. Panics after `timeout`.
pub async fn events_until(
    client: &Client,
    run: &RunId,
    timeout: Duration,
    done: impl Fn(&[Event]) -> bool,
) -> Vec<Event> {
    let group = format!("test-reader-{}", RunId::generate());
    let request =
        ConsumeRequest::new(events_topic(run), group, "test-reader").lease(Duration::from_secs(60));
    let mut by_offset = BTreeMap::new();
    let read = async {
        loop {
            let mut stream = client.consume(request.clone());
            while let Some(item) = stream.next().await {
                let Ok(msg) = item else { continue };
                let _ = client.ack(&request.ack_target(&msg)).await;
                let event: Event = serde_json::from_str(&msg.value).expect("events decode");
                by_offset.insert(msg.offset, event);
                // Items may arrive out of order (Q17): only judge a gap-free prefix. A
                // one-partition topic numbers its messages 0, 1, 2, ...
                let contiguous = by_offset.keys().copied().eq(0..by_offset.len() as u64);
                let events: Vec<Event> = by_offset.values().cloned().collect();
                if contiguous && done(&events) {
                    return events;
                }
            }
            // The topic does not exist yet: the stream ended. Try again shortly.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or_else(|_| panic!("events of {run} within {timeout:?}"))
}

/// The `type` names of `events`, in order.
pub fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(Event::kind).collect()
}

/// Asserts that `expected` appears in `actual` in this order (other items may be between).
pub fn assert_in_order(actual: &[&str], expected: &[&str]) {
    let mut rest = actual.iter();
    for want in expected {
        assert!(
            rest.any(|got| got == want),
            "{want} missing or out of order in {actual:?}"
        );
    }
}

/// The first message of `topic`, read with a fresh group `group` (panics after `timeout`).
pub async fn first_message(
    client: &Client,
    topic: &str,
    group: &str,
    timeout: Duration,
) -> driftq_client::Message {
    let request = ConsumeRequest::new(topic, group, "reader").lease(Duration::from_secs(30));
    let mut stream = client.consume(request);
    tokio::time::timeout(timeout, async {
        loop {
            match stream.next().await {
                Some(Ok(msg)) => return msg,
                // A transient error: the consumer reconnects by itself.
                Some(Err(_)) => continue,
                // The stream ended for good (e.g. the topic does not exist): fail, don't spin.
                None => panic!("the consume stream of {topic} ended"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no message on {topic} within {timeout:?}"))
}

/// The first record on the DLQ topic (panics after `timeout`).
pub async fn first_dead_letter(client: &Client, timeout: Duration) -> sidefx_core::DlqRecord {
    let msg = first_message(client, sidefx_core::DLQ_TOPIC, "test-dlq-reader", timeout).await;
    serde_json::from_str(&msg.value).expect("the DLQ record decodes")
}
