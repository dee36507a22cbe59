//! `GET /metrics` against a real broker: after `POST /runs` (and a replay of it) the run
//! counters and the per-route HTTP metrics are in the Prometheus text.

mod common;

use common::TestApp;
use serde_json::json;

/// The value of the sample line starting with `series` (name plus labels), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn metrics_count_runs_and_requests_by_route() {
    let app = TestApp::spawn().await;
    let body = json!({"business_key": "order-m1"});
    for _ in 0..2 {
        let response = app.post_run(&body, Some("metrics-key")).await;
        assert_eq!(response.status(), 200);
    }
    let missing = app
        .http
        .get(app.url("/runs/nope"))
        .send()
        .await
        .expect("GET");
    assert_eq!(missing.status(), 404);

    let response = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.expect("body");

    // Other tests of this binary share the process-wide recorder: lower bounds only.
    assert!(
        sample(&text, "sidefx_runs_accepted_total").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "sidefx_runs_replayed_total").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    let posts = r#"sidefx_http_requests_total{route="/runs",status="200"}"#;
    assert!(sample(&text, posts).unwrap_or(0.0) >= 2.0, "{text}");
    // The route template, not the raw path, so ids do not create series.
    let lookups = r#"sidefx_http_requests_total{route="/runs/{run_id}",status="404"}"#;
    assert!(sample(&text, lookups).unwrap_or(0.0) >= 1.0, "{text}");
    assert!(!text.contains("/runs/nope"), "{text}");
    let histogram = r#"sidefx_http_request_duration_seconds_count{route="/runs"}"#;
    assert!(sample(&text, histogram).unwrap_or(0.0) >= 2.0, "{text}");
    assert!(text.contains("# TYPE sidefx_http_request_duration_seconds histogram"));
}

#[tokio::test]
async fn metrics_are_in_the_openapi_document() {
    let app = TestApp::spawn().await;
    let doc: serde_json::Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    let metrics = &doc["paths"]["/metrics"]["get"];
    assert!(
        metrics["responses"]["200"]["content"]["text/plain; version=0.0.4"].is_object(),
        "{metrics}"
    );
}
