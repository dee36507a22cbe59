//! Malformed requests get a 400 (or 404) with a JSON error naming the problem, never a panic
//! or a charge.

mod common;

use common::start;
use serde_json::{Value, json};

/// POSTs `body` (raw) with `key`, returning the status and the JSON error.
async fn post(base_url: &str, key: Option<&str>, body: &str) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{base_url}/v1/charges"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

#[tokio::test]
async fn a_missing_key_is_a_400_with_its_code() {
    let provider = start().await;
    let body = json!({"amount": 100, "currency": "usd", "reference": "r"}).to_string();
    let (status, error) = post(&provider.base_url, None, &body).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert_eq!(error["error"]["code"], "missing_idempotency_key");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key")
    );
    provider.stop().await;
}

#[tokio::test]
async fn bad_bodies_are_400s_naming_the_field() {
    let provider = start().await;
    let cases = [
        (
            r#"{"amount": -100, "currency": "usd", "reference": "r"}"#,
            "amount",
        ),
        (
            r#"{"amount": 0, "currency": "usd", "reference": "r"}"#,
            "amount",
        ),
        (
            r#"{"amount": 1.5, "currency": "usd", "reference": "r"}"#,
            "amount",
        ),
        (
            r#"{"amount": 100, "currency": 840, "reference": "r"}"#,
            "currency",
        ),
        (
            r#"{"amount": 100, "currency": "usd", "reference": "r", "tip": 5}"#,
            "tip",
        ),
        (r#"{"amount": 100, "currency": "usd"}"#, "reference"),
        (
            r#"{"amount": 100, "currency": "usd", "reference": "r", "metadata": {"a": 1}}"#,
            "metadata",
        ),
        ("{not json", "body"),
        ("", "body"),
    ];
    for (i, (body, field)) in cases.iter().enumerate() {
        let key = format!("key-{i}");
        let (status, error) = post(&provider.base_url, Some(&key), body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error["error"]["type"], "invalid_request_error", "{body}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: {message}");
    }
    let ledger = provider.ledger().await;
    assert_eq!(ledger.total_charges, 0);
    assert_eq!(
        ledger.total_requests,
        cases.len() as u64,
        "refusals carrying a key count"
    );
    provider.stop().await;
}

#[tokio::test]
async fn lookups_without_a_reference_and_unknown_routes_are_json_errors() {
    let provider = start().await;
    let http = reqwest::Client::new();
    let response = http
        .get(format!("{}/v1/charges", provider.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("reference")
    );

    let response = http
        .get(format!("{}/nope", provider.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.json::<Value>().await.unwrap()["error"].is_object());

    let response = http
        .get(format!("{}/healthz", provider.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
    provider.stop().await;
}
