//! Black-box tests of `POST /runs` and `GET /runs/{id}` against a real broker: what gets
//! published, `Idempotency-Key` replays, concurrent requests with one key.

mod common;

use common::{TestApp, idempotency_key, read_all, value};
use serde_json::{Value, json};
use sidefx_core::{COMMANDS_TOPIC, DLQ_TOPIC, Store};

/// The runs stored with `key`, read straight from the database.
async fn runs_with_key(app: &TestApp, key: &str) -> usize {
    let store = Store::open(&app.config.store.db_path).await.expect("store");
    let runs = store.list_runs(1000).await.expect("list runs");
    runs.iter()
        .filter(|r| r.idempotency_key.as_deref() == Some(key))
        .count()
}

async fn created_run_id(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    body["run_id"].as_str().expect("run_id").to_owned()
}

#[tokio::test]
async fn post_runs_publishes_created_command_and_enqueued() {
    let app = TestApp::spawn().await;
    let response = app
        .post_run(&json!({"business_key": "order-1", "amount": 10.5}), None)
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("idempotent-replayed").is_none());
    let body: Value = response.json().await.expect("JSON");
    let run_id = body["run_id"].as_str().expect("run_id");
    assert_eq!(run_id.len(), 32);
    assert_eq!(body["events_topic"], format!("sidefx.events.{run_id}"));

    let client = app.driftq();
    let events = read_all(&client, &format!("sidefx.events.{run_id}")).await;
    let types: Vec<Value> = events.iter().map(|m| value(m)["type"].clone()).collect();
    assert_eq!(types, ["run.created", "command.enqueued"]);
    assert_eq!(value(&events[0])["amount"], 10.5);
    assert_eq!(value(&events[0])["business_key"], "order-1");
    assert_eq!(value(&events[1])["attempt"], 0);
    assert_eq!(
        idempotency_key(&events[0]),
        Some(format!("evt:{run_id}:created").as_str())
    );
    assert_eq!(
        idempotency_key(&events[1]),
        Some(format!("evt:{run_id}:enq:a0").as_str())
    );

    let commands = read_all(&client, COMMANDS_TOPIC).await;
    assert_eq!(commands.len(), 1);
    let command = value(&commands[0]);
    assert_eq!(command["type"], "run.command");
    assert_eq!(command["run_id"], run_id);
    assert_eq!(command["step_id"], "charge_card");
    assert_eq!(command["events_topic"], format!("sidefx.events.{run_id}"));
    assert_eq!(
        (command["attempt"].clone(), command["max_attempts"].clone()),
        (json!(0), json!(5))
    );
    assert_eq!(command["fail_mode"], "none");
    assert_eq!(commands[0].key, run_id);
    let expected_key = format!("cmd:{run_id}:charge_card:order-1:a0");
    assert_eq!(idempotency_key(&commands[0]), Some(expected_key.as_str()));

    let topics = client.list_topics().await.expect("topics");
    assert!(topics.iter().any(|t| t == DLQ_TOPIC), "{topics:?}");
}

#[tokio::test]
async fn idempotency_key_replays_the_first_run() {
    let app = TestApp::spawn().await;
    let first = created_run_id(
        app.post_run(&json!({"business_key": "order-7"}), Some("key-1"))
            .await,
    )
    .await;

    // The same request, spelled with its defaults: a replay.
    let same = json!({"business_key": "order-7", "amount": 49.99, "max_attempts": 5});
    let replay = app.post_run(&same, Some("key-1")).await;
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let body: Value = replay.json().await.expect("JSON");
    assert_eq!(body["run_id"], first);
    assert_eq!(body["events_topic"], format!("sidefx.events.{first}"));

    // Another body under the same key: refused, nothing created.
    let other = app
        .post_run(&json!({"business_key": "order-8"}), Some("key-1"))
        .await;
    assert_eq!(other.status(), 422);
    let error: Value = other.json().await.expect("JSON");
    assert_eq!(error["error"], "idempotency_key_reused");

    // No key: the original's behaviour, a new run.
    let fresh = created_run_id(
        app.post_run(&json!({"business_key": "order-7"}), None)
            .await,
    )
    .await;
    assert_ne!(fresh, first);

    assert_eq!(runs_with_key(&app, "key-1").await, 1);
    // The replay re-published, and the broker dropped the duplicates.
    let client = app.driftq();
    assert_eq!(
        read_all(&client, &format!("sidefx.events.{first}"))
            .await
            .len(),
        2
    );
    let commands = read_all(&client, COMMANDS_TOPIC).await;
    let for_first = commands
        .iter()
        .filter(|m| value(m)["run_id"] == first.as_str())
        .count();
    assert_eq!((commands.len(), for_first), (2, 1));
}

#[tokio::test]
async fn concurrent_posts_with_one_key_make_one_run() {
    let app = TestApp::spawn().await;
    let body = json!({"business_key": "order-9", "amount": 3});
    let requests = (0..8).map(|_| app.post_run(&body, Some("same-key")));
    let responses = futures::future::join_all(requests).await;

    let mut run_ids = Vec::new();
    let mut replays = 0;
    for response in responses {
        assert_eq!(response.status(), 200);
        replays += usize::from(response.headers().contains_key("idempotent-replayed"));
        let body: Value = response.json().await.expect("JSON");
        run_ids.push(body["run_id"].as_str().expect("run_id").to_owned());
    }
    run_ids.sort();
    run_ids.dedup();
    assert_eq!(run_ids.len(), 1, "one run for one key");
    assert_eq!(replays, 7);
    assert_eq!(runs_with_key(&app, "same-key").await, 1);
    assert_eq!(read_all(&app.driftq(), COMMANDS_TOPIC).await.len(), 1);
}

#[tokio::test]
async fn get_run_reports_the_durable_status() {
    let app = TestApp::spawn().await;
    let body = json!({"business_key": "order-3", "fail_mode": "crash_after_effect_before_ack"});
    let run_id = created_run_id(app.post_run(&body, Some("status-key")).await).await;

    let (status, run) = app.get_json(&format!("/runs/{run_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(run["run_id"], run_id);
    assert_eq!(run["status"], "queued");
    assert_eq!(run["attempts"], 0);
    assert_eq!(run["idempotency_key"], "status-key");
    assert_eq!(run["events_topic"], format!("sidefx.events.{run_id}"));
    assert_eq!(
        run["request"],
        json!({
            "business_key": "order-3", "amount": 49.99, "fail_before_effect_n": 0,
            "fail_mode": "crash_after_effect_before_ack", "max_attempts": 5
        })
    );
    assert_eq!(run["effects"], json!([]));
    assert!(run["created_ms"].as_i64().is_some_and(|ms| ms > 0));

    let (status, error) = app.get_json("/runs/ffffffffffffffffffffffffffffffff").await;
    assert_eq!(
        (status, error["error"].as_str()),
        (404, Some("run_not_found"))
    );
}
