//! A corpus of hostile requests against the limits of `http::limits`: each row
//! is a request and the status (and message part) it must get. Afterwards the
//! broker is still healthy and serves a normal produce and consume.

mod common;

use std::time::Duration;

use serde_json::{Value, json};

/// One hostile request: `POST` with a JSON body, or a query string.
enum Req {
    Query(&'static str, String),
    Json(&'static str, Value),
}

fn corpus() -> Vec<(Req, u16, &'static str)> {
    let big = |n: usize| "k".repeat(n);
    vec![
        (
            Req::Query("/v1/topics", "name=../x".into()),
            400,
            "invalid topic name",
        ),
        (
            Req::Query("/v1/topics", "name=a%2Fb".into()),
            400,
            "invalid topic name",
        ),
        (
            Req::Query("/v1/topics", "name=a%5Cb".into()),
            400,
            "invalid topic name",
        ),
        (
            Req::Query("/v1/topics", "name=a%00b".into()),
            400,
            "invalid topic name",
        ),
        (
            Req::Query("/v1/topics", "name=a%0Ab".into()),
            400,
            "invalid topic name",
        ),
        (
            Req::Query("/v1/topics", "name=..".into()),
            400,
            "invalid topic name",
        ),
        (
            Req::Json("/v1/topics", json!({"name": big(1 << 20)})),
            400,
            "invalid topic name",
        ),
        (
            Req::Json("/v1/topics", json!({"name": big(256)})),
            400,
            "invalid topic name",
        ),
        (
            Req::Query("/v1/topics", "name=wide&partitions=100000".into()),
            400,
            "invalid partitions",
        ),
        (
            Req::Query("/v1/topics", "name=wide&partitions=1025".into()),
            400,
            "invalid partitions",
        ),
        (
            Req::Json(
                "/v1/produce",
                json!({"topic": "t", "key": big(100_000), "value": "v"}),
            ),
            400,
            "key too long",
        ),
        (
            Req::Json(
                "/v1/produce",
                json!({"topic": "t", "value": "v", "envelope": {"idempotency_key": big(2000)}}),
            ),
            400,
            "idempotency_key too long",
        ),
        (
            Req::Query(
                "/v1/produce",
                format!("topic=t&value=v&run_id={}", big(2000)),
            ),
            400,
            "run_id too long",
        ),
        (
            Req::Query("/v1/consume", format!("topic=t&group={}&owner=o", big(300))),
            400,
            "invalid group",
        ),
        (
            Req::Query("/v1/consume", "topic=t&group=g&owner=a%0Ab".into()),
            400,
            "invalid owner",
        ),
        (
            Req::Query(
                "/v1/nack",
                format!(
                    "topic=t&group=g&owner=o&partition=0&offset=0&reason={}",
                    big(5000)
                ),
            ),
            400,
            "reason too long",
        ),
    ]
}

#[tokio::test]
async fn hostile_inputs_are_refused_and_the_broker_stays_healthy() {
    let b = common::start().await;
    b.create("t", 1).await;
    for (req, status, message) in corpus() {
        let (got, body) = match &req {
            Req::Query(path, q) if path.ends_with("consume") => b.get(&format!("{path}?{q}")).await,
            Req::Query(path, q) => b.post(&format!("{path}?{q}")).await,
            Req::Json(path, body) => b.post_json(path, body).await,
        };
        let what = match &req {
            Req::Query(path, q) => format!("{path}?{}", &q[..q.len().min(80)]),
            Req::Json(path, _) => format!("{path} (json)"),
        };
        assert_eq!(got, status, "{what}: {body}");
        assert_eq!(body["error"], "INVALID_ARGUMENT", "{what}: {body}");
        let text = body["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{what}: {text}");
    }
    // Nothing was created, and the broker still works.
    assert_eq!(b.get("/v1/topics").await, (200, json!({"topics": ["t"]})));
    assert_eq!(b.get("/v1/healthz").await, (200, json!({"status": "ok"})));
    b.create("ok-1024", 1024).await;
    assert_eq!(b.produce("topic=t&key=k&value=hello").await.0, 200);
    let mut consumer = b.consume("topic=t&group=g&owner=o&lease_ms=30000");
    let item = consumer.take(1, Duration::from_secs(10)).await;
    assert_eq!(item[0]["value"], "hello");
    consumer.close();
}
