//! Endpoint behaviour: routing, validation, ack/nack rules, DLQ, producer
//! idempotency and backpressure, against an in-process broker.

mod common;

use std::time::Duration;

use common::start;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(3);

#[tokio::test]
async fn routing_404_405_and_request_ids() {
    let b = start().await;
    let resp = b
        .http
        .get(format!("{}/v1/nope", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(resp.headers()["x-request-id"].len(), 24);
    assert_eq!(resp.text().await.unwrap(), "404 page not found\n");

    let (status, body) = b.get("/nope").await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error":"NOT_FOUND","message":"use /v1/* endpoints"})
        )
    );

    let resp = b
        .http
        .delete(format!("{}/v1/topics", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, POST");

    let resp = b
        .http
        .get(format!("{}/v1/healthz", b.base))
        .header("X-Request-Id", "  trace-1 ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-1");
    assert_eq!(resp.text().await.unwrap(), "{\"status\":\"ok\"}\n");
}

#[tokio::test]
async fn produce_and_consume_validation() {
    let b = start().await;
    b.create("pv", 1).await;
    let cases = [
        ("topic=pv", "topic and value are required"),
        (
            "topic=nope&value=v",
            "topic does not exist (create it first)",
        ),
        (
            "topic=pv&value=v&partition_override=-1",
            "invalid partition_override",
        ),
        (
            "topic=pv&value=v&partition_override=1",
            "partition_override out of range",
        ),
        (
            "topic=pv&value=v&retry_backoff_ms=5",
            "retry_max_attempts must be > 0 when using retry backoff params",
        ),
        (
            "topic=pv&value=v&deadline_ms=1000",
            "message deadline exceeded",
        ),
    ];
    for (query, message) in cases {
        let (status, body) = b.produce(query).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["message"], message, "{query}");
    }
    let (status, body) = b
        .post_json("/v1/produce", &json!({"topic":"pv","value":"v","x":1}))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("invalid json body: ")
    );

    let (status, body) = b.get("/v1/consume?topic=pv&group=g").await;
    assert_eq!(
        (status, body["message"].clone()),
        (400, json!("topic, group, and owner are required"))
    );
    let (status, body) = b
        .get("/v1/consume?topic=pv&group=g&owner=o&lease_ms=-1")
        .await;
    assert_eq!(
        (status, body["message"].clone()),
        (400, json!("invalid lease_ms"))
    );
    let (status, body) = b.get("/v1/consume?topic=zz&group=g&owner=o").await;
    assert_eq!(
        (status, body["message"].clone()),
        (400, json!("topic does not exist"))
    );
}

#[tokio::test]
async fn ack_ownership_duplicates_and_validation() {
    let b = start().await;
    b.create("ak", 1).await;
    b.produce("topic=ak&value=a").await;
    let mut c = b.consume("topic=ak&group=g&owner=A&lease_ms=10000");
    let items = c.take(1, WAIT).await;
    assert_eq!(items[0]["value"], "a");

    let (status, body) = b
        .post("/v1/ack?topic=ak&group=g&owner=B&partition=0&offset=0")
        .await;
    assert_eq!(
        (status, body),
        (
            409,
            json!({"error":"FAILED_PRECONDITION","message":"not owner"})
        )
    );
    let (status, _) = b
        .post("/v1/ack?topic=ak&group=g&owner=A&partition=0&offset=0")
        .await;
    assert_eq!(status, 204);
    let (status, body) = b
        .post("/v1/ack?topic=ak&group=g&owner=A&partition=0&offset=0")
        .await;
    assert_eq!(
        (status, body["message"].clone()),
        (400, json!("message is not in-flight"))
    );
    let (_, body) = b
        .post("/v1/ack?topic=ak&group=g&owner=A&partition=-1&offset=0")
        .await;
    assert_eq!(body["message"], "partition cannot be negative");
    let (_, body) = b.post("/v1/ack?topic=ak&group=g&owner=A&partition=0").await;
    assert_eq!(body["message"], "partition and offset are required");
    let (_, body) = b
        .post_json(
            "/v1/ack",
            &json!({"topic":"ak","group":"g","owner":"A","error":"x"}),
        )
        .await;
    assert_eq!(body["message"], "unknown field: error");
    c.close();
}

#[tokio::test]
async fn nack_redelivers_at_once_and_dead_letters() {
    let b = start().await;
    b.create("nq", 1).await;
    b.produce("topic=nq&value=x&retry_max_attempts=2").await;
    let mut c = b.consume("topic=nq&group=g&owner=o&lease_ms=10000");
    assert_eq!(c.take(1, WAIT).await[0]["attempts"], 1);
    let (status, _) = b
        .post("/v1/nack?topic=nq&group=g&owner=o&partition=0&offset=0&reason=boom")
        .await;
    assert_eq!(status, 204);
    let second = c.take(1, WAIT).await;
    assert_eq!(
        (
            second[0]["attempts"].clone(),
            second[0]["last_error"].clone()
        ),
        (json!(2), json!("boom"))
    );
    b.post("/v1/nack?topic=nq&group=g&owner=o&partition=0&offset=0")
        .await;
    assert!(
        c.next(Duration::from_millis(400)).await.is_none(),
        "attempts exhausted: no redelivery"
    );
    let (_, topics) = b.get("/v1/topics").await;
    assert_eq!(topics, json!({"topics":["dlq.nq","nq"]}));
    let mut d = b.consume("topic=dlq.nq&group=d&owner=o");
    let copy = d.take(1, WAIT).await;
    assert_eq!(copy[0]["value"], "x");
    assert_eq!(copy[0]["envelope"], json!({}));
    assert_eq!(copy[0]["last_error"], "");
    c.close();
    d.close();
}

#[tokio::test]
async fn producer_idempotency_dedupes_by_scope() {
    let b = start().await;
    b.create("t", 1).await;
    b.create("u", 1).await;
    for _ in 0..2 {
        let (status, body) = b.produce("topic=t&value=v&idempotency_key=k1").await;
        assert_eq!(
            (status, body),
            (200, json!({"status":"produced","topic":"t"}))
        );
    }
    b.produce("topic=t&value=v&idempotency_key=k1&tenant=other")
        .await;
    b.produce("topic=t&value=v&idempotency_key=k1&target_topic=u")
        .await;
    let mut c = b.consume("topic=t&group=g&owner=o&lease_ms=10000");
    let items = c.take(2, WAIT).await;
    assert_eq!(items[1]["envelope"]["tenant_id"], "other");
    assert!(
        c.next(Duration::from_millis(300)).await.is_none(),
        "the duplicate was stored"
    );
    c.close();
}

#[tokio::test]
async fn backpressure_refuses_with_retry_after() {
    let b = start().await;
    b.create("bp", 1).await;
    for i in 0..100 {
        let (status, _) = b.produce(&format!("topic=bp&value=m{i}")).await;
        assert_eq!(status, 200);
    }
    let resp = b
        .http
        .post(format!("{}/v1/produce?topic=bp&value=x", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    let (_, body) = common::status_json(resp).await;
    assert_eq!(
        body,
        json!({"error":"RESOURCE_EXHAUSTED","message":"producer overload: partition_buffer_full",
               "reason":"partition_buffer_full","retry_after_ms":1000})
    );
    let big = "x".repeat(65536);
    b.create("bytes", 1).await;
    let (status, body) = b
        .post_json("/v1/produce", &json!({"topic":"bytes","value":big}))
        .await;
    assert_eq!(
        (status, body["reason"].clone()),
        (429, json!("partition_buffer_bytes_full"))
    );
}

#[tokio::test]
async fn go_style_escaping_in_items() {
    let b = start().await;
    b.create("esc", 1).await;
    b.post_json("/v1/produce", &json!({"topic":"esc","value":"a&b<c>"}))
        .await;
    let resp = b
        .http
        .get(format!("{}/v1/consume?topic=esc&group=g&owner=o", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/x-ndjson; charset=utf-8"
    );
    let mut body = resp.bytes_stream();
    use futures::StreamExt;
    let chunk = tokio::time::timeout(WAIT, body.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let line = String::from_utf8_lossy(&chunk).into_owned();
    assert!(
        line.contains(r#""value":"a\u0026b\u003cc\u003e""#),
        "{line}"
    );
}
