//! Documented quirks a compatible broker must reproduce: DLQ publishing
//! blocked by DLQ backpressure (Q13), the backoff schedule (§3.8), message
//! loss after out-of-order acks and a restart (Q1), and topics that vanish or
//! shrink on restart (Q2).

mod common;

use std::time::{Duration, Instant};

use serde_json::json;
use sidefx_testkit::poll_until;

const WAIT: Duration = Duration::from_secs(3);

async fn metric(b: &common::TestBroker, line_prefix: &str) -> Option<u64> {
    let text = b
        .http
        .get(format!("{}/metrics", b.base))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let line = text.lines().find(|l| l.starts_with(line_prefix))?;
    line.rsplit(' ').next()?.parse().ok()
}

#[tokio::test]
async fn dlq_backpressure_pins_the_message_in_flight() {
    let b = common::start().await;
    b.create("big", 2).await;
    for p in 0..2 {
        let body = json!({"topic":"big","value":"x".repeat(40_000),
            "envelope":{"partition_override":p,"retry_policy":{"max_attempts":1}}});
        assert_eq!(b.post_json("/v1/produce", &body).await.0, 200);
    }
    let mut source = b.consume("topic=big&group=g&owner=o&lease_ms=300");
    source.take(2, WAIT).await;
    // Both copies land on dlq.big partition 0 (empty key); 2 × 40 000 bytes do not fit.
    poll_until("the DLQ topic dlq.big to be created", WAIT, || async {
        (b.get("/v1/topics").await.1 == json!({"topics":["big","dlq.big"]})).then_some(())
    })
    .await;
    let mut dlq = b.consume("topic=dlq.big&group=d&owner=o&lease_ms=5000");
    let first = dlq.take(1, WAIT).await.remove(0);
    let wal = b.wal.clone();
    let failures = || {
        let text = std::fs::read_to_string(&wal).unwrap_or_default();
        text.matches("dlq_publish_failed: producer overload: partition_buffer_bytes_full")
            .count()
    };
    // Retried (and persisted) on every tick while the source group has a stream.
    poll_until("three persisted DLQ publish failures", WAIT, || async {
        (failures() >= 3).then_some(())
    })
    .await;
    // Neither redelivered nor dropped: both partitions of the source still hold one in flight.
    let inflight =
        |p: u32| format!("inflight_messages{{topic=\"big\",group=\"g\",partition=\"{p}\"}}");
    let pinned =
        metric(&b, &inflight(0)).await.unwrap_or(0) + metric(&b, &inflight(1)).await.unwrap_or(0);
    assert_eq!(pinned, 1);
    let ack = format!(
        "/v1/ack?topic=dlq.big&group=d&owner=o&partition={}&offset={}",
        first["partition"], first["offset"]
    );
    assert_eq!(b.post(&ack).await.0, 204);
    let second = dlq.take(1, WAIT).await.remove(0);
    assert_eq!(second["offset"], 1);
    source.close();
    dlq.close();
}

#[tokio::test]
async fn timeout_redeliveries_follow_the_backoff_schedule() {
    let b = common::start().await;
    b.create("bo", 1).await;
    let q = "topic=bo&value=v&retry_max_attempts=10&retry_backoff_ms=600&retry_max_backoff_ms=900";
    b.produce(q).await;
    let mut c = b.consume("topic=bo&group=g&owner=o&lease_ms=300");
    let mut arrivals = Vec::new();
    for attempt in 1..=4 {
        let item = c.next(WAIT).await.expect("redelivery within the deadline");
        assert_eq!(item["attempts"], attempt);
        arrivals.push(Instant::now());
    }
    c.close();
    // Gap before attempt k+1 ≥ max(lease, backoff(k−1)); attempt 2 only waits for the lease.
    let expected_ms = [300u64, 600, 900];
    for (i, want) in expected_ms.iter().enumerate() {
        let gap = arrivals[i + 1] - arrivals[i];
        let want = Duration::from_millis(*want);
        assert!(
            gap + Duration::from_millis(50) >= want,
            "gap {i}: {gap:?} < {want:?}"
        );
        assert!(
            gap <= want + Duration::from_millis(800),
            "gap {i}: {gap:?} ≫ {want:?}"
        );
    }
}

#[tokio::test]
async fn out_of_order_ack_then_restart_loses_the_lower_message() {
    let b = common::start().await;
    b.create("q1", 1).await;
    for v in ["a", "b", "c", "d"] {
        b.produce(&format!("topic=q1&value={v}")).await;
    }
    let mut c = b.consume("topic=q1&group=g&owner=o&lease_ms=10000");
    c.take(2, WAIT).await;
    assert_eq!(
        b.post("/v1/ack?topic=q1&group=g&owner=o&partition=0&offset=1")
            .await
            .0,
        204
    );
    c.close();
    let b = b.restart().await;
    let mut c = b.consume("topic=q1&group=g&owner=o&lease_ms=10000");
    let items = c.take(2, WAIT).await;
    assert_eq!(
        (items[0]["value"].clone(), items[1]["value"].clone()),
        (json!("c"), json!("d"))
    );
    for offset in [2, 3] {
        let ack = format!("/v1/ack?topic=q1&group=g&owner=o&partition=0&offset={offset}");
        assert_eq!(b.post(&ack).await.0, 204);
    }
    // Nothing is left for the group: "a" (offset 0) is lost.
    let labels = "{topic=\"q1\",group=\"g\",partition=\"0\"}";
    assert_eq!(metric(&b, &format!("consumer_lag{labels}")).await, Some(0));
    assert_eq!(
        metric(&b, &format!("inflight_messages{labels}")).await,
        Some(0)
    );
    c.close();
}

#[tokio::test]
async fn empty_topics_vanish_and_partition_counts_shrink_on_restart() {
    let b = common::start().await;
    b.create("empty", 1).await;
    b.create("wide", 4).await;
    assert_eq!(b.produce("topic=wide&value=v&key=k1").await.0, 200); // → partition 1
    let b = b.restart().await;
    assert_eq!(b.get("/v1/topics").await.1, json!({"topics":["wide"]}));
    let (status, body) = b.produce("topic=wide&value=v&partition_override=3").await;
    assert_eq!(
        (status, body["message"].clone()),
        (400, json!("partition_override out of range"))
    );
    assert_eq!(b.produce("topic=empty&value=v").await.0, 400);
    // k4 hashed to partition 2 of 4; with 2 partitions it lands on 0.
    assert_eq!(b.produce("topic=wide&value=k4&key=k4").await.0, 200);
    let mut c = b.consume("topic=wide&group=g&owner=o");
    let items = c.take(2, WAIT).await;
    assert_eq!(
        (items[0]["partition"].clone(), items[0]["value"].clone()),
        (json!(0), json!("k4"))
    );
    c.close();
}
