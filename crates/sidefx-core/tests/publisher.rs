//! The publisher against a real broker (`driftq-local` in-process, port 0, temp WAL).

use std::time::Duration;

use driftq_client::{Client, ConsumeRequest, Consumer, Message};
use driftq_local::{Broker, BrokerConfig};
use futures::StreamExt;
use sidefx_core::{
    BusinessKey, COMMANDS_TOPIC, Command, DLQ_TOPIC, DlqRecord, Event, FailMode, Publisher,
    RunCommand, RunId, StepId, events_topic,
};

const DEADLINE: Duration = Duration::from_secs(10);

async fn start(wal: &std::path::Path) -> (Broker, Publisher) {
    let broker = driftq_local::spawn(BrokerConfig::ephemeral(wal))
        .await
        .unwrap();
    let publisher = Publisher::new(Client::new(&broker.base_url()).unwrap());
    (broker, publisher)
}

fn command(run: &RunId) -> RunCommand {
    RunCommand {
        ts: 1,
        run_id: run.clone(),
        events_topic: events_topic(run),
        step_id: StepId::charge_card(),
        business_key: BusinessKey::parse("order-1").unwrap(),
        amount: 49.99,
        attempt: 0,
        max_attempts: 5,
        fail_before_effect_n: 0,
        fail_mode: FailMode::None,
        redrive: None,
    }
}

/// Next message of the stream, acked, skipping transient errors; panics after [`DEADLINE`].
async fn next_acked(client: &Client, consumer: &mut Consumer) -> Message {
    let msg = tokio::time::timeout(DEADLINE, async {
        loop {
            match consumer.next().await.expect("stream ended") {
                Ok(msg) => return msg,
                Err(e) if e.is_transient() => continue,
                Err(e) => panic!("consume failed: {e}"),
            }
        }
    })
    .await
    .expect("no message before the deadline");
    client
        .ack(&consumer.request().ack_target(&msg))
        .await
        .unwrap();
    msg
}

fn consumer(publisher: &Publisher, topic: &str) -> Consumer {
    publisher
        .client()
        .consume(ConsumeRequest::new(topic, "test", "test-owner"))
}

#[tokio::test]
async fn command_event_and_dead_letter_arrive_typed_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, publisher) = start(&dir.path().join("q.wal")).await;
    let run = RunId::parse("run1").unwrap();
    let cmd = command(&run);
    publisher.command(&cmd).await.unwrap();
    let event = Event::RunCompleted {
        ts: 2,
        run_id: run.clone(),
    };
    publisher.event(&event).await.unwrap();
    let dlq = DlqRecord::for_command(&cmd, "boom", 3);
    publisher.dead_letter(&dlq).await.unwrap();

    let client = publisher.client();
    let msg = next_acked(client, &mut consumer(&publisher, COMMANDS_TOPIC)).await;
    assert_eq!(
        serde_json::from_str::<Command>(&msg.value).unwrap(),
        Command::Run(cmd.clone())
    );
    assert_eq!(msg.key, "run1");
    let envelope = msg.envelope.unwrap();
    assert_eq!(
        envelope.idempotency_key.as_deref(),
        Some("cmd:run1:charge_card:order-1:a0")
    );

    let msg = next_acked(client, &mut consumer(&publisher, &events_topic(&run))).await;
    assert_eq!(serde_json::from_str::<Event>(&msg.value).unwrap(), event);
    let msg = next_acked(client, &mut consumer(&publisher, DLQ_TOPIC)).await;
    assert_eq!(serde_json::from_str::<DlqRecord>(&msg.value).unwrap(), dlq);
    broker.shutdown().await;
}

#[tokio::test]
async fn republished_events_are_deduplicated_by_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, publisher) = start(&dir.path().join("q.wal")).await;
    let run = RunId::parse("run2").unwrap();
    let started = Event::StepStarted {
        ts: 1,
        run_id: run.clone(),
        step_id: StepId::charge_card(),
        attempt: 0,
    };
    for _ in 0..3 {
        publisher.event(&started).await.unwrap();
    }
    let marker = Event::RunCompleted {
        ts: 9,
        run_id: run.clone(),
    };
    publisher.event(&marker).await.unwrap();

    let mut events = consumer(&publisher, &events_topic(&run));
    let first = next_acked(publisher.client(), &mut events).await;
    let second = next_acked(publisher.client(), &mut events).await;
    assert_eq!(
        serde_json::from_str::<Event>(&first.value).unwrap(),
        started
    );
    assert_eq!(
        serde_json::from_str::<Event>(&second.value).unwrap(),
        marker,
        "duplicates were stored"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn commands_spread_over_the_commands_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, publisher) = start(&dir.path().join("q.wal")).await;
    for i in 0..16 {
        publisher
            .command(&command(&RunId::parse(&format!("r{i}")).unwrap()))
            .await
            .unwrap();
    }
    let mut commands = consumer(&publisher, COMMANDS_TOPIC);
    let mut partitions = std::collections::BTreeSet::new();
    for _ in 0..16 {
        partitions.insert(
            next_acked(publisher.client(), &mut commands)
                .await
                .partition,
        );
    }
    assert!(partitions.len() > 1, "all commands on {partitions:?}");
    assert!(
        partitions
            .iter()
            .all(|p| *p < sidefx_core::COMMANDS_PARTITIONS)
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn a_topic_the_broker_forgot_is_recreated_once() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("q.wal");
    let (broker, publisher) = start(&wal).await;
    let run = RunId::parse("run3").unwrap();
    // Cached as existing, but empty: a restarted broker forgets it.
    publisher.ensure_topic(&events_topic(&run)).await.unwrap();
    let addr = broker.local_addr();
    broker.shutdown().await;

    let config = BrokerConfig {
        addr: addr.to_string(),
        ..BrokerConfig::ephemeral(&wal)
    };
    let broker = driftq_local::spawn(config).await.unwrap();
    let topics = publisher.client().list_topics().await.unwrap();
    assert!(
        !topics.contains(&events_topic(&run)),
        "the broker kept an empty topic: {topics:?}"
    );

    publisher
        .event(&Event::RunCompleted {
            ts: 1,
            run_id: run.clone(),
        })
        .await
        .unwrap();
    let topics = publisher.client().list_topics().await.unwrap();
    assert!(topics.contains(&events_topic(&run)));
    broker.shutdown().await;
}
