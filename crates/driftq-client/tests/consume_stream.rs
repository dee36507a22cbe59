//! Consume streams against a real `driftq-local`: delivery, ack, nack and
//! redelivery, ownership, a refused stream and large values.

mod common;

use common::{DEADLINE, TestBroker, next_message};
use driftq_client::{ConsumeRequest, Error, ProduceRequest, RetryPolicy};
use futures::StreamExt;

#[tokio::test]
async fn produce_consume_ack() {
    let t = TestBroker::start().await;
    t.client.create_topic("jobs", 1).await.expect("create");
    // Open the stream before anything is produced: the broker sends no
    // status line until the first item, which must not time out.
    let request = ConsumeRequest::new("jobs", "workers", "w1");
    let mut consumer = t.client.consume(request.clone());
    let pending = tokio::spawn(async move {
        let msg = next_message(&mut consumer).await;
        (msg, consumer)
    });
    let produced = ProduceRequest::new("jobs", "payload")
        .key("k1")
        .run_id("run-1")
        .step_id("step-1")
        .retry_policy(RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        });
    t.client.produce(&produced).await.expect("produce");

    let (msg, consumer) = pending.await.expect("reader task");
    assert_eq!((msg.partition, msg.offset, msg.attempts), (0, 0, 1));
    assert_eq!(
        (
            msg.key.as_str(),
            msg.value.as_str(),
            msg.last_error.as_str()
        ),
        ("k1", "payload", "")
    );
    let envelope = msg.envelope.clone().expect("envelope");
    assert_eq!(envelope.run_id.as_deref(), Some("run-1"));
    assert_eq!(envelope.retry_policy.map(|p| p.max_attempts), Some(3));

    let target = consumer.request().ack_target(&msg);
    t.client.ack(&target).await.expect("ack");
    let again = t
        .client
        .ack(&target)
        .await
        .expect_err("acks are not idempotent");
    assert!(again.is_not_in_flight(), "{again:?}");
}

/// A one-partition topic `jobs` with one message `v`, delivered to a `workers` stream owned
/// by `owner`; the stream stays open for as long as the returned consumer lives.
async fn one_delivered_message(
    t: &TestBroker,
    owner: &str,
) -> (
    ConsumeRequest,
    driftq_client::Consumer,
    driftq_client::Message,
) {
    t.client.create_topic("jobs", 1).await.expect("create");
    t.client
        .produce(&ProduceRequest::new("jobs", "v"))
        .await
        .expect("produce");
    let request = ConsumeRequest::new("jobs", "workers", owner);
    let mut consumer = t.client.consume(request.clone());
    let msg = next_message(&mut consumer).await;
    (request, consumer, msg)
}

#[tokio::test]
async fn nack_redelivers_with_reason() {
    let t = TestBroker::start().await;
    let (request, mut consumer, first) = one_delivered_message(&t, "w1").await;
    t.client
        .nack(&request.ack_target(&first), Some("boom"))
        .await
        .expect("nack");
    let second = next_message(&mut consumer).await;
    assert_eq!((second.offset, second.attempts), (first.offset, 2));
    assert_eq!(second.last_error, "boom");
    t.client
        .ack(&request.ack_target(&second))
        .await
        .expect("ack");
}

#[tokio::test]
async fn ack_by_another_owner_is_not_owner() {
    let t = TestBroker::start().await;
    let (request, _consumer, msg) = one_delivered_message(&t, "owner-a").await;

    let mut stolen = request.ack_target(&msg);
    stolen.owner = "owner-b".to_owned();
    let err = t.client.ack(&stolen).await.expect_err("not the owner");
    assert!(matches!(err, Error::NotOwner), "{err:?}");
    let err = t
        .client
        .nack(&stolen, None)
        .await
        .expect_err("not the owner");
    assert!(matches!(err, Error::NotOwner), "{err:?}");
    t.client
        .ack(&request.ack_target(&msg))
        .await
        .expect("owner acks");
}

#[tokio::test]
async fn consume_of_missing_topic_fails_then_ends() {
    let t = TestBroker::start().await;
    let mut consumer = t.client.consume(ConsumeRequest::new("missing", "g", "o"));
    let first = tokio::time::timeout(DEADLINE, consumer.next())
        .await
        .expect("an answer");
    match first {
        Some(Err(err)) => assert!(err.is_topic_missing(), "{err:?}"),
        other => panic!("expected a topic-missing error, got {other:?}"),
    }
    let end = tokio::time::timeout(DEADLINE, consumer.next())
        .await
        .expect("an answer");
    assert!(end.is_none(), "stream ends after a fatal error: {end:?}");
    assert!(
        consumer.next().await.is_none(),
        "an ended stream stays ended"
    );
}

#[tokio::test]
async fn large_value_round_trip() {
    let t = TestBroker::start().await;
    t.client.create_topic("big", 1).await.expect("create");
    // 40 KB, with characters the broker escapes the Go way (<, >, &, U+2028).
    let value = format!("{}<&>\"\\é\u{2028}\n", "x".repeat(40_000));
    t.client
        .produce(&ProduceRequest::new("big", value.clone()))
        .await
        .expect("produce");
    let mut consumer = t.client.consume(ConsumeRequest::new("big", "g", "o"));
    let msg = next_message(&mut consumer).await;
    assert_eq!(msg.value.len(), value.len());
    assert_eq!(msg.value, value);
}
