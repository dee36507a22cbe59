//! `GET /debug/workers` over rows the store holds: most recently seen first, and `alive`
//! decided per row from its own heartbeat interval and whether it stopped.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use sidefx_api::{AppState, app};
use sidefx_core::{Store, WorkerBeat, now_ms};
use tower::ServiceExt;

fn beat(owner: &str, seen_ms: i64, heartbeat_ms: u64) -> WorkerBeat {
    WorkerBeat {
        owner: owner.to_owned(),
        host: "host-a".to_owned(),
        pid: 7,
        version: "1.0.0".to_owned(),
        effect: "ticket".to_owned(),
        heartbeat_ms,
        started_ms: seen_ms - 1000,
        seen_ms,
        steps_in_hand: 3,
    }
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, Value) {
    let request = Request::get(uri).body(Body::empty()).expect("request");
    let response = app(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = common::body_bytes(response).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn workers_are_listed_newest_seen_first_with_their_liveness() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::api_config("http://127.0.0.1:9", dir.path());
    let state = AppState::from_config(&config).await.expect("state");
    let store = Store::open(&dir.path().join("side_effects.sqlite"))
        .await
        .expect("store");
    let now = now_ms();
    // Seen a second ago with 2 s beats: alive. Seen 10 s ago with 2 s beats: not alive, though
    // it never stopped. A slow beater (60 s) seen 10 s ago: alive. A stopped one: not alive.
    store
        .record_worker(beat("fresh", now - 1000, 2000))
        .await
        .unwrap();
    store
        .record_worker(beat("silent", now - 10_000, 2000))
        .await
        .unwrap();
    store
        .record_worker(beat("slow", now - 9_000, 60_000))
        .await
        .unwrap();
    store
        .record_worker(beat("stopped", now - 500, 2000))
        .await
        .unwrap();
    assert!(store.worker_stopped("stopped", now - 500).await.unwrap());

    let (status, body) = get(&state, "/debug/workers").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = body["workers"].as_array().expect("workers");
    let summary: Vec<(&str, bool)> = rows
        .iter()
        .map(|w| (w["owner"].as_str().unwrap(), w["alive"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("stopped", false),
            ("fresh", true),
            ("slow", true),
            ("silent", false)
        ]
    );
    assert_eq!(rows[0]["stopped_ms"], json!(now - 500));
    assert_eq!(
        rows[0]["steps_in_hand"],
        json!(0),
        "a stop hands everything back"
    );
    assert_eq!(rows[1]["stopped_ms"], Value::Null);
    assert_eq!(rows[1]["steps_in_hand"], json!(3));
    for field in [
        "host",
        "pid",
        "started_ms",
        "last_seen_ms",
        "version",
        "effect",
    ] {
        assert!(!rows[1][field].is_null(), "{field} missing: {}", rows[1]);
    }

    let (status, body) = get(&state, "/debug/workers?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["workers"].as_array().map(Vec::len), Some(2));
    let (status, body) = get(&state, "/debug/workers?limit=many").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "limit");
}
