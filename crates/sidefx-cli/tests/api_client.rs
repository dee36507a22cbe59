//! The typed API client against a real local stack (every route it wraps, and the
//! `Idempotency-Key` replay), and its retry policy against a tiny server that answers 503
//! with `Retry-After`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{StacksDir, sidefx, text};
use sidefx_cli::api_client::{ApiClient, Attempts, Problem};
use sidefx_core::{BusinessKey, FailMode, RunId, RunRequest, RunStatus};
use sidefx_testkit::poll_until;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn request(key: &str) -> RunRequest {
    RunRequest {
        business_key: BusinessKey::parse(key).unwrap(),
        amount: 12.5,
        fail_before_effect_n: 0,
        fail_mode: FailMode::None,
        max_attempts: 3,
    }
}

#[tokio::test]
async fn every_route_of_a_real_api_reads_into_its_type() {
    common::require_service_binaries();
    let stacks = StacksDir::new();
    let up = sidefx(
        stacks.path(),
        common::UP_LOCAL_ON_FREE_PORTS,
        Duration::from_secs(90),
    );
    assert!(up.status.success(), "{}", text(&up));
    let state = std::fs::read_to_string(stacks.path().join("state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let api = ApiClient::new(state["api_url"].as_str().unwrap(), None).unwrap();

    let run = request("client-test-1");
    let first = api
        .create_run(&run, "client-test-1", &mut Attempts::default())
        .await
        .unwrap();
    let again = api
        .create_run(&run, "client-test-1", &mut Attempts::default())
        .await
        .unwrap();
    assert_eq!(again.run_id, first.run_id, "the key must replay the run");

    let mut events = api.events(&first.run_id, None).await.unwrap();
    let mut kinds = Vec::new();
    while !kinds.iter().any(|k: &String| k.contains("run.completed")) {
        let event = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("the run completes within 30 s")
            .unwrap()
            .expect("the stream stays open until the run completed");
        kinds.push(event.data);
    }
    let done = poll_until(
        "the run's durable status",
        Duration::from_secs(30),
        async || {
            let view = api.run(&first.run_id).await.unwrap()?;
            (view.status == RunStatus::Completed).then_some(view)
        },
    )
    .await;
    assert_eq!(done.effects.len(), 1);
    assert_eq!(done.request, run);
    assert_eq!(
        api.run(&RunId::generate()).await.unwrap().map(|r| r.run_id),
        None
    );

    let verified = poll_until("a clean verify", Duration::from_secs(30), async || {
        let answer = api.verify(true).await.unwrap();
        answer.report.clean.then_some(answer)
    })
    .await;
    assert_eq!(verified.report.counts.runs_completed, 1);
    assert_eq!(api.dlq(None).await.unwrap().count, 0);
    let effects = api.side_effects_of(&run.business_key).await.unwrap();
    assert_eq!(effects.items[0].run_id, first.run_id);
    assert_eq!(api.artifacts().await.unwrap().count, 1);
}

/// What the fake server saw: the `Idempotency-Key` of each request.
type Seen = Arc<Mutex<Vec<Option<String>>>>;

/// Answers the first `busy` requests with 503 and `Retry-After: 1`, then every one with a
/// `POST /runs` answer; returns its base URL and what it saw.
async fn busy_server(busy: usize) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Seen::default();
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let head = read_head(&mut socket).await;
            let key = head
                .lines()
                .find_map(|l| l.strip_prefix("idempotency-key: "))
                .map(str::to_owned);
            let answered = {
                let mut log = log.lock().unwrap();
                log.push(key);
                log.len()
            };
            let response = if answered <= busy {
                "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
            } else {
                let body = r#"{"run_id":"r1","events_topic":"sidefx.events.r1"}"#;
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            socket.write_all(response.as_bytes()).await.unwrap();
        }
    });
    (base, seen)
}

/// The request head (lowercased) and its body, read until the body is complete.
async fn read_head(socket: &mut tokio::net::TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.unwrap();
        bytes.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length || n == 0 {
                return head.to_owned();
            }
        }
    }
}

#[tokio::test]
async fn a_503_is_retried_after_its_retry_after_with_the_same_key() {
    let (base, seen) = busy_server(1).await;
    let api = ApiClient::new(&base, None).unwrap();
    let mut attempts = Attempts::default();
    let started = Instant::now();
    let created = api
        .create_run(&request("k"), "key-1", &mut attempts)
        .await
        .unwrap();
    assert_eq!(created.run_id.as_str(), "r1");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was not honoured"
    );
    assert_eq!(attempts.sent, 2);
    assert_eq!(attempts.retried, ["HTTP 503"]);
    let key = Some("key-1".to_owned());
    assert_eq!(*seen.lock().unwrap(), [key.clone(), key]);
}

#[tokio::test]
async fn retries_stop_at_the_budget() {
    let (base, seen) = busy_server(usize::MAX).await;
    let api = ApiClient::new(&base, None)
        .unwrap()
        .retrying_for(Duration::from_millis(1500));
    let mut attempts = Attempts::default();
    let refused = api
        .create_run(&request("k"), "key-2", &mut attempts)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused.problem, Problem::GaveUp { why, .. } if why == "HTTP 503"),
        "{refused}"
    );
    // The second wait of 1 s would end after the budget of 1.5 s.
    assert_eq!(attempts.sent, 2);
    assert_eq!(seen.lock().unwrap().len(), 2);
}
