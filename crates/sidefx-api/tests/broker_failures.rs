//! Black-box tests of broker trouble, with the run outbox between the store and DriftQ: a
//! run is accepted (200) once it is stored, whatever the broker does, and published when the
//! broker takes it again: DriftQ down, then back; a full commands partition, then drained.
//! Only a full outbox refuses a run (503 `overloaded`), and then nothing was stored.

mod common;

use common::{DEADLINE, TestApp, read_all, read_group, value};
use driftq_client::ProduceRequest;
use serde_json::{Value, json};
use sidefx_core::{COMMANDS_PARTITIONS, COMMANDS_TOPIC, RunRow, RunStatus, Store};
use sidefx_testkit::poll_until;

async fn store(app: &TestApp) -> Store {
    Store::open(&app.config.store.db_path).await.expect("store")
}

/// Every run in the API's store.
async fn stored_runs(app: &TestApp) -> Vec<RunRow> {
    store(app).await.list_runs(100).await.expect("runs")
}

/// Waits until the outbox owes the broker nothing.
async fn wait_outbox_empty(app: &TestApp) {
    let store = store(app).await;
    poll_until("the run outbox to be empty", DEADLINE, || async {
        let owed = store.pending_run_count().await.expect("count");
        (owed == 0).then_some(())
    })
    .await;
}

/// `POST /runs` answered 200; returns the run id.
async fn accepted(app: &TestApp, body: &Value, key: Option<&str>) -> String {
    let response = app.post_run(body, key).await;
    assert_eq!(response.status(), 200);
    let run: Value = response.json().await.expect("JSON");
    run["run_id"].as_str().expect("run_id").to_owned()
}

/// The run's events topic holds exactly `run.created` then `command.enqueued`, once each.
async fn assert_started_once(app: &TestApp, run_id: &str) {
    let events = read_all(&app.driftq(), &format!("sidefx.events.{run_id}")).await;
    let types: Vec<Value> = events.iter().map(|m| value(m)["type"].clone()).collect();
    assert_eq!(types, ["run.created", "command.enqueued"]);
}

#[tokio::test]
async fn a_run_accepted_while_the_broker_is_down_is_published_when_it_returns() {
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
    // Stored is promised: the answer does not depend on the broker.
    let run_id = accepted(&app, &json!({"business_key": "order-down"}), Some("down-1")).await;
    let runs = stored_runs(&app).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Queued);
    assert_eq!(store(&app).await.pending_run_count().await.unwrap(), 1);

    app.restart_broker_empty().await;
    wait_outbox_empty(&app).await;
    let command = read_group(&app.driftq(), COMMANDS_TOPIC, "worker", 1).await;
    assert_eq!(value(&command[0])["run_id"], run_id);
    assert_started_once(&app, &run_id).await;
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
async fn a_full_commands_partition_delays_an_accepted_run_and_degrades_health() {
    let app = TestApp::spawn().await;
    let client = app.driftq();
    fill_commands_topic(&client).await;

    let body = json!({"business_key": "order-full"});
    let run_id = accepted(&app, &body, Some("full-1")).await;
    // The broker itself is healthy: only a full partition refuses the command.
    let health = poll_until("a degraded /healthz", DEADLINE, || async {
        let (status, health) = app.get_json("/healthz").await;
        (status == 200 && health["status"] == "degraded").then_some(health)
    })
    .await;
    assert_eq!(
        (&health["ok"], &health["driftq"]["status"]),
        (&json!(false), &json!("ok")),
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
    // A re-send is the same run, and publishes nothing of its own.
    let response = app.post_run(&body, Some("full-1")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["idempotent-replayed"], "true");
    assert_eq!(stored_runs(&app).await.len(), 1);

    // A consumer group drains the fillers; acking frees the partitions; the relay, backing
    // off, then gets the command in.
    let drained = read_group(
        &client,
        COMMANDS_TOPIC,
        "drain",
        COMMANDS_PARTITIONS as usize,
    )
    .await;
    assert!(drained.iter().all(|m| m.value.len() == FILLER_BYTES));
    wait_outbox_empty(&app).await;
    let command = read_group(&client, COMMANDS_TOPIC, "drain", 1).await;
    assert_eq!(value(&command[0])["run_id"], run_id);
    assert_started_once(&app, &run_id).await;
}

#[tokio::test]
async fn a_full_outbox_refuses_new_runs_with_503_and_stores_nothing() {
    let mut app = TestApp::spawn_with(|config| config.max_pending_runs = 2).await;
    app.stop_broker().await;
    for n in 0..2 {
        let key = format!("owed-{n}");
        accepted(&app, &json!({"business_key": key}), Some(&key)).await;
    }

    let response = app
        .post_run(&json!({"business_key": "one-too-many"}), Some("owed-2"))
        .await;
    assert_eq!(response.status(), 503);
    let retry_after = response.headers()["retry-after"].to_str().expect("ascii");
    assert!(
        retry_after.parse::<u64>().is_ok_and(|secs| secs >= 1),
        "{retry_after}"
    );
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["error"], "overloaded", "{error}");
    assert_eq!(stored_runs(&app).await.len(), 2, "nothing stored");
    // A re-send of an accepted run is still answered: it stores nothing.
    let response = app
        .post_run(&json!({"business_key": "owed-0"}), Some("owed-0"))
        .await;
    assert_eq!(response.status(), 200);

    app.restart_broker_empty().await;
    wait_outbox_empty(&app).await;
    // Room again: the refused request, re-sent, is accepted.
    accepted(
        &app,
        &json!({"business_key": "one-too-many"}),
        Some("owed-2"),
    )
    .await;
}
