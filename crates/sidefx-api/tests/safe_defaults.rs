//! Safe defaults through the router: the chaos switches are refused unless `SIDEFX_CHAOS`
//! is on, `API_ADMIN_TOKEN` locks `/debug/*` and `/metrics`, and responses name files
//! relative to the artifacts directory, never by the server's absolute paths.

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use clap::Parser;
use serde_json::{Value, json};
use sidefx_api::{ApiConfig, AppState, app};
use sidefx_core::{
    Artifacts, BusinessKey, FailMode, MarkDone, NewClaim, NewRun, Receipt, RunCommand, RunId,
    StepId, Store, Ticket, events_topic, now_ms,
};
use tempfile::TempDir;
use tower::ServiceExt;

/// A router over a fresh store in `dir` (no broker: its URL is a closed port), with `extra`
/// flags and none of the test stacks' defaults (no `--chaos`).
async fn api(dir: &TempDir, extra: &[&str]) -> Router {
    let (db, artifacts) = (dir.path().join("db.sqlite"), dir.path().join("artifacts"));
    let mut args: Vec<std::ffi::OsString> =
        ["sidefx-api", "--driftq-http-url", "http://127.0.0.1:9"]
            .map(Into::into)
            .into();
    args.extend(["--db-path".into(), db.into_os_string()]);
    args.extend(["--artifacts-dir".into(), artifacts.into_os_string()]);
    args.extend(extra.iter().map(Into::into));
    let config = ApiConfig::try_parse_from(args).expect("config");
    app(AppState::from_config(&config).await.expect("state"))
}

async fn send(
    router: &Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let (status, headers) = (response.status(), response.headers().clone());
    let body = common::body_bytes(response).await;
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn post_run(body: &Value) -> Request<Body> {
    Request::post("/runs")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

fn get(uri: &str, token: Option<&str>) -> Request<Body> {
    let mut request = Request::get(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Body::empty()).expect("request")
}

#[tokio::test]
async fn chaos_switches_are_refused_unless_chaos_is_on() {
    let dir = tempfile::tempdir().unwrap();
    let router = api(&dir, &[]).await;
    for (body, field) in [
        (
            json!({"business_key": "k", "fail_mode": "crash_after_effect_before_ack"}),
            "fail_mode",
        ),
        (
            json!({"business_key": "k", "fail_before_effect_n": 1}),
            "fail_before_effect_n",
        ),
    ] {
        let (status, _, text) = send(&router, post_run(&body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
        let error: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (error["error"].as_str(), error["field"].as_str()),
            (Some("chaos_disabled"), Some(field))
        );
    }
    // The defaults spelled out are no chaos: the run is accepted (it waits in the outbox,
    // as there is no broker).
    let plain = json!({"business_key": "k", "fail_mode": "none", "fail_before_effect_n": 0});
    let (status, _, text) = send(&router, post_run(&plain)).await;
    assert_eq!(status, StatusCode::OK, "{text}");

    let chaotic = api(&tempfile::tempdir().unwrap(), &["--chaos"]).await;
    let body = json!({"business_key": "k", "fail_mode": "crash_after_effect_before_ack"});
    let (status, _, text) = send(&chaotic, post_run(&body)).await;
    assert_eq!(status, StatusCode::OK, "accepted: {text}");
}

#[tokio::test]
async fn the_admin_token_locks_debug_metrics_and_the_run_listing_only() {
    let dir = tempfile::tempdir().unwrap();
    let locked = api(&dir, &["--admin-token", "s3cret"]).await;
    for uri in [
        "/debug/dlq",
        "/debug/side-effects",
        "/debug/verify",
        "/metrics",
        "/runs",
    ] {
        for token in [None, Some("wrong"), Some("s3cret2")] {
            let (status, headers, text) = send(&locked, get(uri, token)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri} {token:?}: {text}");
            assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
            assert!(text.contains("\"unauthorized\""), "{text}");
        }
        let (status, _, text) = send(&locked, get(uri, Some("s3cret"))).await;
        assert_ne!(status, StatusCode::UNAUTHORIZED, "{uri}: {text}");
    }
    let (status, _, _) = send(&locked, get("/openapi.json", None)).await;
    assert_eq!(status, StatusCode::OK, "the API description stays public");
    let open = api(&tempfile::tempdir().unwrap(), &["--admin-token", ""]).await;
    let (status, _, text) = send(&open, get("/debug/dlq", None)).await;
    assert_eq!(status, StatusCode::OK, "an empty token is no token: {text}");
}

/// A completed effect for `key` with its ticket, written as the worker writes it (the
/// receipt holds the ticket's absolute path).
async fn done_effect(dir: &TempDir, key: &str) -> RunId {
    let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
    let artifacts = Artifacts::new(dir.path().join("artifacts"));
    let run_id = RunId::generate();
    let business_key = BusinessKey::parse(key).unwrap();
    let request_json = r#"{"business_key":"k","amount":1.0,"fail_before_effect_n":0,"fail_mode":"none","max_attempts":3}"#;
    store
        .create_run(NewRun {
            run_id: run_id.clone(),
            business_key: business_key.clone(),
            request_json: request_json.to_owned(),
            idempotency_key: None,
            request_fingerprint: String::new(),
        })
        .await
        .unwrap();
    let cmd = RunCommand {
        ts: now_ms(),
        events_topic: events_topic(&run_id),
        run_id: run_id.clone(),
        step_id: StepId::charge_card(),
        business_key,
        amount: 1.0,
        attempt: 0,
        max_attempts: 3,
        fail_before_effect_n: 0,
        fail_mode: FailMode::None,
        redrive: None,
    };
    let claim = NewClaim::for_command(&cmd, "w", Duration::from_secs(30)).unwrap();
    store.claim(claim).await.unwrap();
    let ticket = artifacts
        .write_ticket(&Ticket::for_command(&cmd, now_ms()))
        .await
        .unwrap();
    let receipt = Receipt::ticket(ticket.path().display().to_string());
    assert!(
        receipt.artifact_path().unwrap().starts_with('/'),
        "stored absolute"
    );
    let done = store
        .mark_done(&cmd.effect_id(), "w", &receipt)
        .await
        .unwrap();
    assert_eq!(done, MarkDone::Done);
    run_id
}

#[tokio::test]
async fn responses_name_files_relative_to_the_artifacts_dir() {
    let dir = tempfile::tempdir().unwrap();
    let run_id = done_effect(&dir, "order-7").await;
    let router = api(&dir, &[]).await;
    let secret = dir.path().display().to_string();
    for uri in [
        "/debug/side-effects".to_owned(),
        "/debug/artifacts".to_owned(),
        format!("/runs/{run_id}"),
    ] {
        let (status, _, text) = send(&router, get(&uri, None)).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {text}");
        assert!(
            !text.contains(&secret),
            "{uri} names the server's path: {text}"
        );
    }
    let (_, _, text) = send(&router, get("/debug/side-effects", None)).await;
    let body: Value = serde_json::from_str(&text).unwrap();
    let item = &body["items"][0];
    assert_eq!(item["artifact_path"], "tickets/ticket_order-7.json");
    assert_eq!(
        item["receipt"],
        json!({"kind": "ticket", "path": "tickets/ticket_order-7.json"})
    );
    let (_, _, text) = send(&router, get("/debug/artifacts", None)).await;
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["tickets_dir"],
        "tickets"
    );
}
