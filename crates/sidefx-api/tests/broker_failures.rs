//! Black-box tests of broker trouble: DriftQ down (health and publishing say 503) and a full
//! commands partition (503 with `Retry-After`, then a replay completes the run). A run the
//! client was refused is recorded `rejected`, so no worker redrives it behind its back.

mod common;

use common::{TestApp, read_all, read_group, value};
use driftq_client::ProduceRequest;
use serde_json::{Value, json};
use sidefx_core::{COMMANDS_PARTITIONS, COMMANDS_TOPIC, RunRow, RunStatus, Store};

/// Every run in the API's store (the tests never learn a refused run's id from the API).
async fn stored_runs(app: &TestApp) -> Vec<RunRow> {
    let store = Store::open(&app.config.store.db_path).await.expect("store");
    store.list_runs(100).await.expect("runs")
}

#[tokio::test]
async fn healthz_and_post_runs_say_503_when_the_broker_is_down() {
    let mut app = TestApp::spawn().await;
    let (status, health) = app.get_json("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(
        health,
        json!({"ok": true, "status": "ok", "driftq": {"status": "ok"}})
    );

    app.stop_broker().await;
    let (status, error) = app.get_json("/healthz").await;
    assert_eq!(
        (status, error["error"].as_str()),
        (503, Some("broker_unavailable"))
    );

    let response = app
        .post_run(&json!({"business_key": "order-down"}), Some("down-1"))
        .await;
    assert_eq!(response.status(), 503);
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["error"], "broker_unavailable");
    // Connection refused: the command certainly was not stored.
    let runs = stored_runs(&app).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Rejected);
}

/// Size of one filler message: it fits an empty partition (65 535 bytes would), but no
/// command (a few hundred bytes) fits after it.
const FILLER_BYTES: usize = 65_500;

/// Fills every partition of the commands topic to its byte limit (PROTOCOL §3.11: a
/// partition refuses once the unacked bytes of the slowest acking group reach 64 KiB; with no
/// acking group, everything counts). One big message per partition does it.
async fn fill_commands_topic(client: &driftq_client::Client) {
    client
        .create_topic(COMMANDS_TOPIC, COMMANDS_PARTITIONS)
        .await
        .expect("create topic");
    let filler = "x".repeat(FILLER_BYTES);
    for partition in 0..COMMANDS_PARTITIONS {
        let produce =
            ProduceRequest::new(COMMANDS_TOPIC, filler.clone()).partition_override(partition);
        client.produce(&produce).await.expect("produce filler");
    }
}

#[tokio::test]
async fn healthz_is_degraded_while_the_broker_refuses_runs_for_backpressure() {
    let app = TestApp::spawn().await;
    fill_commands_topic(&app.driftq()).await;
    // The broker itself is healthy: only a full partition refuses the command.
    let response = app
        .post_run(&json!({"business_key": "order-refused"}), None)
        .await;
    assert_eq!(response.status(), 503);
    let (status, health) = app.get_json("/healthz").await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(
        (
            &health["ok"],
            &health["status"],
            &health["driftq"]["status"]
        ),
        (&json!(false), &json!("degraded"), &json!("ok")),
        "{health}"
    );
    let reason = health["backpressure"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.starts_with("partition_buffer"), "{health}");
    assert!(
        health["backpressure"]["seen_ms_ago"].as_u64().is_some(),
        "{health}"
    );
}

#[tokio::test]
async fn full_commands_topic_is_503_with_retry_after_and_a_replay_completes_the_run() {
    let app = TestApp::spawn().await;
    let client = app.driftq();
    fill_commands_topic(&client).await;

    let body = json!({"business_key": "order-full"});
    let response = app.post_run(&body, Some("full-1")).await;
    assert_eq!(response.status(), 503);
    let retry_after = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        retry_after.parse::<u64>().is_ok_and(|secs| secs >= 1),
        "{retry_after}"
    );
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["error"], "broker_backpressure");
    let refused = stored_runs(&app).await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].status, RunStatus::Rejected);

    // A consumer group drains the fillers; acking frees the partitions.
    let drained = read_group(
        &client,
        COMMANDS_TOPIC,
        "drain",
        COMMANDS_PARTITIONS as usize,
    )
    .await;
    assert!(drained.iter().all(|m| m.value.len() == FILLER_BYTES));

    // The client retries with the same key: the stored run is published now.
    let response = app.post_run(&body, Some("full-1")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["idempotent-replayed"], "true");
    let run: Value = response.json().await.expect("JSON");
    let run_id = run["run_id"].as_str().expect("run_id");
    assert_eq!(
        run_id,
        refused[0].run_id.as_str(),
        "the refused run, not a new one"
    );
    let (_, view) = app.get_json(&format!("/runs/{run_id}")).await;
    assert_eq!(view["status"], "queued", "accepted now: queued again");
    let command = read_group(&client, COMMANDS_TOPIC, "drain", 1).await;
    assert_eq!(value(&command[0])["run_id"], run_id);
    let events = read_all(&client, &format!("sidefx.events.{run_id}")).await;
    let types: Vec<Value> = events.iter().map(|m| value(m)["type"].clone()).collect();
    assert_eq!(types, ["run.created", "command.enqueued"]);
}
