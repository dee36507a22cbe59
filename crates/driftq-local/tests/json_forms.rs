//! §1.6 with Go's `encoding/json` rules for the fixed-structure bodies:
//! member names match case-insensitively, the last duplicate wins, `null`
//! leaves plain fields alone, a top-level `null` is the empty structure.
//! ack/nack keep their exact-key allow list.

mod common;

use std::time::Duration;

use serde_json::json;

const WAIT: Duration = Duration::from_secs(3);

async fn post_raw(b: &common::TestBroker, path: &str, body: &str) -> (u16, serde_json::Value) {
    let resp = b
        .http
        .post(format!("{}{path}", b.base))
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    common::status_json(resp).await
}

#[tokio::test]
async fn member_names_match_case_insensitively() {
    let b = common::start().await;
    let (status, body) = post_raw(&b, "/v1/topics", r#"{"NAME":"ci","Partitions":2}"#).await;
    assert_eq!((status, body["partitions"].clone()), (201, json!(2)));
    let produce = r#"{"Topic":"ci","VALUE":"v","Key":"k",
        "Envelope":{"Run_ID":"r","ſtep_id":"s","Retry_Policy":{"MAX_ATTEMPTS":3}}}"#;
    let (status, _) = post_raw(&b, "/v1/produce", produce).await;
    assert_eq!(status, 200);
    let mut c = b.consume("topic=ci&group=g&owner=o");
    let item = c.take(1, WAIT).await.remove(0);
    assert_eq!(item["value"], "v");
    assert_eq!(
        item["envelope"],
        json!({"run_id":"r","step_id":"s","retry_policy":{"max_attempts":3}})
    );
    c.close();
}

#[tokio::test]
async fn duplicates_nulls_and_unknown_members() {
    let b = common::start().await;
    let (_, body) = post_raw(&b, "/v1/topics", r#"{"name":"a","Name":"dup"}"#).await;
    assert_eq!(body["name"], "dup");
    let (status, body) = post_raw(&b, "/v1/topics", "null").await;
    assert_eq!(
        (status, body["message"].clone()),
        (400, json!("name is required"))
    );
    let kept = r#"{"topic":"dup","value":"v","value":null}"#;
    assert_eq!(post_raw(&b, "/v1/produce", kept).await.0, 200);
    let (status, body) =
        post_raw(&b, "/v1/produce", r#"{"topic":"dup","value":"v","Nope":1}"#).await;
    assert_eq!(status, 400);
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("invalid json body: json: unknown field \"Nope\""),
        "{message}"
    );
    let nested = r#"{"topic":"dup","value":"v","envelope":{"retry_policy":{"tries":1}}}"#;
    assert_eq!(post_raw(&b, "/v1/produce", nested).await.0, 400);
}

#[tokio::test]
async fn ack_keys_are_matched_exactly() {
    let b = common::start().await;
    b.create("ex", 1).await;
    let (status, body) = post_raw(&b, "/v1/ack", r#"{"Topic":"ex"}"#).await;
    assert_eq!(
        (status, body["message"].clone()),
        (400, json!("unknown field: Topic"))
    );
}
