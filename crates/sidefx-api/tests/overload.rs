//! Load shedding on `POST /runs`: beyond `--max-inflight-runs` requests in flight (a request
//! is in flight until its run's first publish ends, though its client was answered when the
//! run was stored), the API answers 503 `overloaded` with `Retry-After` at once instead of
//! queueing (and holding memory for) every request; once those finish, new ones are served.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{ApiServer, DEADLINE, api_config};
use serde_json::{Value, json};
use sidefx_api::ApiConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A "broker" that accepts connections and never answers, so a request that reaches the
/// broker stays in flight until the black hole is closed (its connections then drop).
struct BlackHole {
    url: String,
    accepted: Arc<AtomicUsize>,
    close: watch::Sender<bool>,
}

impl BlackHole {
    async fn start() -> BlackHole {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (close, mut closed) = watch::channel(false);
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                tokio::select! {
                    Ok((tcp, _)) = listener.accept() => {
                        held.push(tcp);
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    _ = closed.wait_for(|c| *c) => break,
                }
            }
        });
        BlackHole {
            url,
            accepted,
            close,
        }
    }

    /// Waits until some request has connected (and so holds its admission permit).
    async fn wait_for_a_connection(&self) {
        let start = tokio::time::Instant::now();
        while self.accepted.load(Ordering::SeqCst) == 0 {
            assert!(start.elapsed() < DEADLINE, "no request reached the broker");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn config_with_limit(broker_url: &str, dir: &std::path::Path, limit: u32) -> ApiConfig {
    let mut config = api_config(broker_url, dir);
    config.max_inflight_runs = limit;
    config
}

async fn post(http: &reqwest::Client, api: &ApiServer, key: &str) -> reqwest::Response {
    http.post(api.url("/runs"))
        .json(&json!({"business_key": key}))
        .send()
        .await
        .expect("API answers")
}

#[tokio::test]
async fn post_runs_beyond_the_limit_is_shed_with_503_and_retry_after() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = BlackHole::start().await;
    let api = ApiServer::start(&config_with_limit(&broker.url, dir.path(), 1)).await;
    let http = reqwest::Client::new();

    // The first request is admitted and answered once stored; its publish hangs on the
    // silent broker, holding the request's permit.
    let first = post(&http, &api, "held").await;
    assert_eq!(first.status(), 200);
    broker.wait_for_a_connection().await;

    // The second is refused at once: the limit is one.
    let shed = post(&http, &api, "shed").await;
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: Value = shed.json().await.expect("JSON body");
    assert_eq!(body["error"], "overloaded");

    // Other routes are not limited.
    let health = http
        .get(api.url("/runs/unknown"))
        .send()
        .await
        .expect("GET");
    assert_eq!(health.status(), 404);

    // Closing the broker fails the held publish (the outbox keeps the run for its relay),
    // releasing the permit: the next request is admitted again.
    broker.close.send_replace(true);
    let start = tokio::time::Instant::now();
    loop {
        let next = post(&http, &api, "after").await;
        if next.status() == 200 {
            break;
        }
        let body: Value = next.json().await.expect("JSON body");
        assert_eq!(body["error"], "overloaded", "{body}");
        assert!(start.elapsed() < DEADLINE, "the permit was never released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    api.stop().await;
}
