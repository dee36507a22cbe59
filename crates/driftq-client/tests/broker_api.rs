//! Unary endpoints against a real `driftq-local`: health, version, topics,
//! produce and the typed errors the broker answers with.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{TestBroker, next_message};
use driftq_client::{Client, ConsumeRequest, Error, ProduceRequest};

#[tokio::test]
async fn health_and_version() {
    let t = TestBroker::start().await;
    assert_eq!(t.client.healthz().await.expect("healthz").status, "ok");
    let version = t.client.version().await.expect("version");
    assert!(version.wal_enabled);
    assert!(!version.version.is_empty());
}

#[tokio::test]
async fn create_is_idempotent_and_list_is_sorted() {
    let t = TestBroker::start().await;
    assert!(t.client.list_topics().await.expect("list").is_empty());
    t.client.create_topic("beta", 2).await.expect("create");
    t.client.create_topic("alpha", 1).await.expect("create");
    t.client
        .create_topic("beta", 5)
        .await
        .expect("existing topic is Ok");
    assert_eq!(
        t.client.list_topics().await.expect("list"),
        ["alpha", "beta"]
    );
}

#[tokio::test]
async fn produce_to_missing_topic_is_invalid_argument() {
    let t = TestBroker::start().await;
    let err = t
        .client
        .produce(&ProduceRequest::new("nowhere", "v"))
        .await
        .expect_err("topic does not exist");
    assert!(err.is_topic_missing(), "{err}");
    assert!(!err.is_transient());
    assert!(
        matches!(&err, Error::InvalidArgument { message } if message == "topic does not exist (create it first)"),
        "{err:?}"
    );
}

#[tokio::test]
async fn empty_value_is_invalid_argument_with_broker_message() {
    let t = TestBroker::start().await;
    t.client.create_topic("t", 1).await.expect("create");
    let err = t
        .client
        .produce(&ProduceRequest::new("t", ""))
        .await
        .expect_err("empty value");
    assert!(
        matches!(&err, Error::InvalidArgument { message } if message == "topic and value are required"),
        "{err:?}"
    );
}

#[tokio::test]
async fn wrong_base_path_is_not_found() {
    let t = TestBroker::start().await;
    let client = Client::new(&format!("{}/elsewhere", t.broker.base_url())).expect("valid URL");
    let err = client.healthz().await.expect_err("no such path");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn idempotent_produce_stores_once() {
    let t = TestBroker::start().await;
    t.client.create_topic("idem", 1).await.expect("create");
    let first = ProduceRequest::new("idem", "a").idempotency_key("once");
    t.client.produce(&first).await.expect("first produce");
    let duplicate = ProduceRequest::new("idem", "a-again").idempotency_key("once");
    t.client
        .produce(&duplicate)
        .await
        .expect("duplicate answers 200");
    t.client
        .produce(&ProduceRequest::new("idem", "b"))
        .await
        .expect("sentinel");

    // Offsets come from one topic-wide counter: if the duplicate had been
    // stored, the sentinel would have offset 2.
    let mut consumer = t.client.consume(ConsumeRequest::new("idem", "g", "o"));
    let mut seen = BTreeSet::new();
    for _ in 0..2 {
        let msg = next_message(&mut consumer).await;
        seen.insert((msg.offset, msg.value));
    }
    assert_eq!(
        seen,
        BTreeSet::from([(0, "a".to_owned()), (1, "b".to_owned())])
    );
}

/// §3.11: once a group has acked on the topic, a partition holding 100
/// messages above that group's committed offset refuses the next produce.
#[tokio::test]
async fn full_partition_is_backpressure_with_retry_after() {
    let t = TestBroker::start().await;
    t.client.create_topic("bp", 1).await.expect("create");
    t.client
        .produce(&ProduceRequest::new("bp", "first"))
        .await
        .expect("produce");
    let request = ConsumeRequest::new("bp", "slow", "o");
    let mut consumer = t.client.consume(request.clone());
    let first = next_message(&mut consumer).await;
    t.client
        .ack(&request.ack_target(&first))
        .await
        .expect("ack");
    drop(consumer);

    for i in 0..100 {
        let req = ProduceRequest::new("bp", format!("m{i}"));
        t.client
            .produce(&req)
            .await
            .unwrap_or_else(|err| panic!("produce {i}: {err}"));
    }
    let err = t
        .client
        .produce(&ProduceRequest::new("bp", "one too many"))
        .await
        .expect_err("partition is full");
    assert!(err.is_transient());
    match err {
        Error::Backpressure {
            reason,
            retry_after,
        } => {
            assert_eq!(reason, "partition_buffer_full");
            assert_eq!(retry_after, Duration::from_secs(1));
        }
        other => panic!("expected backpressure, got {other:?}"),
    }
}
