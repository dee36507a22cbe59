//! End to end: a `sidefx-worker` process with `WORKER_METRICS_ADDR` serves Prometheus text on
//! `GET /metrics`, and a completed run shows up in it.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use sidefx_core::RunStatus;
use sidefx_testkit::{TestStack, WorkerProcess, poll_until};

const DEADLINE: Duration = Duration::from_secs(60);

/// Starts a worker on the stack's broker and store whose metrics listener binds port 0.
fn spawn_worker(stack: &TestStack, log: &Path) -> WorkerProcess {
    let log = std::fs::File::create(log).expect("log file");
    let child = stack
        .worker_command()
        .env("WORKER_METRICS_ADDR", "127.0.0.1:0")
        .stderr(Stdio::from(log))
        .spawn()
        .expect("sidefx-worker starts");
    WorkerProcess::new(child)
}

/// The metrics URL the worker logged at start-up (the port was picked by the OS).
async fn metrics_url(log: &Path) -> String {
    poll_until("the metrics address in the log", DEADLINE, || async {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let (_, rest) = text.split_once("metrics listening on ")?;
        rest.split_whitespace().next().map(str::to_owned)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_run_is_counted_on_the_metrics_endpoint() {
    let mut stack = common::stack().workers(0).spawn().await;
    let log = stack.dir.path().join("metrics-worker.log");
    let _worker = spawn_worker(&stack, &log);
    let url = metrics_url(&log).await;

    let run = stack
        .post_run(json!({"business_key": "metrics-1"}), None)
        .await;
    stack
        .wait_status(&run, RunStatus::Completed, DEADLINE)
        .await;

    let http = stack.http.clone();
    // The step records its outcome right after it returns: poll rather than assume.
    let (content_type, text) = poll_until("the executed effect in /metrics", DEADLINE, || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let response = http.get(&url).send().await.ok()?;
            let content_type = response.headers().get("content-type")?.to_str().ok()?;
            let content_type = content_type.to_owned();
            let text = response.text().await.ok()?;
            text.contains("sidefx_effects_total{outcome=\"executed\"} 1")
                .then_some((content_type, text))
        }
    })
    .await;
    assert_eq!(content_type, "text/plain; version=0.0.4");
    for expected in [
        "sidefx_step_duration_seconds_bucket{le=\"0.5\"}",
        "sidefx_step_duration_seconds_count 1",
        "sidefx_submit_to_done_seconds_count 1",
    ] {
        assert!(text.contains(expected), "{expected} missing in:\n{text}");
    }
}
