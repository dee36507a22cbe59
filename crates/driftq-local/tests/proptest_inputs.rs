//! Property tests over every endpoint's query parameters and JSON bodies:
//! whatever arrives — random text, unicode, huge or negative numbers, wrong
//! types, duplicate parameters, bad escapes — the broker answers (never a
//! 5xx, never a dropped connection) and every 4xx JSON body is
//! `{"error": CODE, "message": …}` with the code §1.3 assigns to the status.
//! One in-process broker per property.

mod common;

use std::time::Duration;

use proptest::prelude::*;
use serde_json::Value;

const NAMES: &[&str] = &[
    "topic",
    "name",
    "partitions",
    "value",
    "key",
    "group",
    "owner",
    "lease_ms",
    "partition",
    "offset",
    "reason",
    "partition_override",
    "deadline_ms",
    "deadline_rfc3339",
    "retry_max_attempts",
    "retry_backoff_ms",
    "retry_max_backoff_ms",
    "idempotency_key",
    "idem_key",
    "tenant",
    "target_topic",
    "envelope",
    "retry_policy",
    "max_attempts",
    "Topic",
];
const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/v1/topics"),
    ("GET", "/v1/topics"),
    ("POST", "/v1/produce"),
    ("GET", "/v1/consume"),
    ("POST", "/v1/ack"),
    ("POST", "/v1/nack"),
    ("GET", "/v1/healthz"),
    ("DELETE", "/v1/produce"),
    ("PUT", "/v1/ack"),
];

/// Values that exercise the parsers: known topics, numbers at the edges, junk.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("t".to_owned()),
        Just("p4".to_owned()),
        Just(String::new()),
        any::<i64>().prop_map(|n| n.to_string()),
        (0u32..6).prop_map(|n| n.to_string()),
        Just("99999999999999999999999".to_owned()),
        Just("2099-01-02T03:04:05Z".to_owned()),
        "\\PC{0,12}",
        ".{0,8}",
    ]
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A query string: known and random names, duplicates, raw junk.
fn query() -> impl Strategy<Value = String> {
    let pair = (prop::sample::select(NAMES), value(), any::<bool>()).prop_map(|(n, v, raw)| {
        if raw {
            format!("{n}={}", v.replace(['&', '#', ' '], ""))
        } else {
            format!("{n}={}", percent_encode(&v))
        }
    });
    let junk = prop_oneof![
        Just("%".to_owned()),
        Just("%zz=1".to_owned()),
        Just("a;b=1".to_owned()),
        Just("=".to_owned())
    ];
    prop::collection::vec(prop_oneof![4 => pair, 1 => junk], 0..8).prop_map(|v| v.join("&"))
}

/// A JSON body: objects over the known names (nested too) with values of every type.
fn json_body() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        value().prop_map(Value::String),
    ];
    let tree = leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(NAMES), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    });
    prop::collection::vec((prop::sample::select(NAMES), tree), 0..7)
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

fn expected_code(status: u16) -> Option<&'static str> {
    match status {
        400 => Some("INVALID_ARGUMENT"),
        404 => Some("NOT_FOUND"),
        405 => Some("METHOD_NOT_ALLOWED"),
        409 => Some("FAILED_PRECONDITION"),
        429 => Some("RESOURCE_EXHAUSTED"),
        _ => None,
    }
}

/// Sends one request and checks the answer's shape; Err describes a violation.
async fn check(
    http: &reqwest::Client,
    method: &str,
    url: String,
    body: Option<Vec<u8>>,
) -> Result<(), String> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    // HEAD answers carry headers only (§1.5).
    let has_body = method != reqwest::Method::HEAD;
    let mut req = http.request(method, &url);
    if let Some(body) = body {
        req = req.body(body);
    }
    let resp = match req.send().await {
        Ok(resp) => resp,
        // A valid consume holds its headers back until an item exists (Q16).
        Err(e) if e.is_timeout() && url.contains("/v1/consume") => return Ok(()),
        Err(e) => return Err(format!("{url}: no answer: {e}")),
    };
    let status = resp.status().as_u16();
    let text_404 = status == 404 && resp.url().path().starts_with("/v1/");
    let text = match resp.text().await {
        Ok(text) => text,
        Err(e) if e.is_timeout() && url.contains("/v1/consume") => return Ok(()),
        Err(e) => return Err(format!("{url}: body cut: {e}")),
    };
    if status >= 500 {
        return Err(format!("{url}: {status} {text}"));
    }
    if !(400..500).contains(&status) || text_404 || !has_body {
        return Ok(());
    }
    let body: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{url}: {status} not JSON: {e}: {text}"))?;
    let keys: Vec<&str> = body
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let extra_ok = status == 429
        && keys.len() == 4
        && body["reason"].is_string()
        && body["retry_after_ms"].is_u64();
    if !(keys.len() == 2 || extra_ok) || !body["message"].is_string() {
        return Err(format!("{url}: {status} bad error body {text}"));
    }
    if body["error"].as_str() != expected_code(status) {
        return Err(format!("{url}: {status} with code {}", body["error"]));
    }
    Ok(())
}

/// One broker with topics `t` (1 partition) and `p4` (4), and a client whose
/// timeout ends consume requests that turned into open streams.
fn broker() -> (tokio::runtime::Runtime, common::TestBroker, reqwest::Client) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let b = rt.block_on(async {
        let b = common::start().await;
        b.create("t", 1).await;
        b.create("p4", 4).await;
        b
    });
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    (rt, b, http)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[test]
fn query_strings_never_break_the_broker() {
    let (rt, b, http) = broker();
    proptest!(config(), |(endpoint in prop::sample::select(ENDPOINTS), q in query())| {
        let url = format!("{}{}?{q}", b.base, endpoint.1);
        let result = rt.block_on(check(&http, endpoint.0, url, None));
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    });
}

#[test]
fn json_bodies_never_break_the_broker() {
    let (rt, b, http) = broker();
    proptest!(config(), |(endpoint in prop::sample::select(ENDPOINTS), body in json_body(), q in query())| {
        let url = format!("{}{}?{q}", b.base, endpoint.1);
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let result = rt.block_on(check(&http, endpoint.0, url, Some(body)));
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    });
}

#[test]
fn raw_bodies_and_paths_never_break_the_broker() {
    let (rt, b, http) = broker();
    let path = prop_oneof![
        prop::sample::select(ENDPOINTS).prop_map(|e| e.1.to_owned()),
        "/[a-zA-Z0-9/._-]{0,16}",
        "/v1/[a-z/.]{0,10}",
    ];
    proptest!(config(), |(path in path, method in prop::sample::select(&["GET", "POST", "HEAD", "PATCH"][..]), body in prop::collection::vec(any::<u8>(), 0..64))| {
        let url = format!("{}{path}", b.base);
        let body = (!body.is_empty()).then_some(body);
        let result = rt.block_on(check(&http, method, url, body));
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    });
}
