//! Black-box tests of the SSE stream `GET /runs/{id}/events` and of `GET /runs/{id}/history`:
//! the recorded history replayed, then live events, `id:`/`event:` on every frame,
//! `Last-Event-ID`, the end after the terminal event, any number of viewers, API restarts.

mod common;

use common::{ApiServer, SseReader, TestApp};
use serde_json::{Value, json};
use sidefx_core::{Event, RunId, StepId, Store, now_ms};

async fn create_run(app: &TestApp) -> String {
    let response = app
        .post_run(&json!({"business_key": "order-sse"}), None)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    body["run_id"].as_str().expect("run_id").to_owned()
}

/// The `type`s of the events, sorted.
fn sorted_types(events: &[Value]) -> Vec<String> {
    let mut types: Vec<String> = events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?").to_owned())
        .collect();
    types.sort();
    types
}

/// The store the API uses (a second handle on the same file, as the worker has).
async fn store(app: &TestApp) -> Store {
    Store::open(&app.config.store.db_path).await.expect("store")
}

/// Records `event` as a worker would.
async fn record(app: &TestApp, event: Event) {
    store(app)
        .await
        .record_events(vec![event])
        .await
        .expect("record");
}

fn completed(run_id: &str) -> Event {
    Event::RunCompleted {
        ts: now_ms(),
        run_id: RunId::parse(run_id).expect("id"),
    }
}

fn dead_lettered(run_id: &str) -> Event {
    Event::RunDlq {
        ts: now_ms(),
        run_id: RunId::parse(run_id).expect("id"),
        step_id: StepId::charge_card(),
        error: "boom".into(),
        redrive: None,
    }
}

#[tokio::test]
async fn sse_replays_the_history_then_follows_live_and_ends_after_the_terminal_event() {
    let app = TestApp::spawn().await;
    let run_id = create_run(&app).await;
    let mut sse = SseReader::open(&app, &run_id, "tab-1").await;

    let first = sse.next(1).await;
    assert_eq!(first[0], json!({"type": "sse.connected", "run_id": run_id}));
    // Accepted in the run's transaction: the history starts with these two, in this order.
    let events = sse.next(2).await;
    let types: Vec<_> = events.iter().map(|e| e["type"].clone()).collect();
    assert_eq!(types, ["run.created", "command.enqueued"]);
    assert!(events.iter().all(|e| e["run_id"] == run_id.as_str()));

    // Recorded by another process while the stream is open: it arrives live, then the end.
    record(&app, completed(&run_id)).await;
    let frames = sse.frames_to_end().await;
    let kinds: Vec<_> = frames
        .iter()
        .map(|f| f.event.clone().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["run.completed", "sse.end"]);
    assert_eq!(frames[0].data["type"], "run.completed");
    assert_eq!(frames[1].data["run_id"], run_id.as_str());
    assert_eq!(
        frames[1].data["last_event_id"],
        json!(frames[0].id.expect("id"))
    );
}

#[tokio::test]
async fn every_viewer_sees_every_event_with_ids_and_names_and_can_resume() {
    let app = TestApp::spawn().await;
    let run_id = create_run(&app).await;
    record(&app, completed(&run_id)).await;

    // Two viewers of the same client_id (the original split events between them) and one
    // without: each gets the whole story, and then the stream ends.
    let mut stories = Vec::new();
    for client in ["tab", "tab", ""] {
        let sse = if client.is_empty() {
            SseReader::open_after(&app, &run_id, 0).await
        } else {
            SseReader::open(&app, &run_id, client).await
        };
        stories.push(sse.frames_to_end().await);
    }
    for frames in &stories {
        let kinds: Vec<_> = frames
            .iter()
            .map(|f| f.event.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            kinds,
            [
                "sse.connected",
                "run.created",
                "command.enqueued",
                "run.completed",
                "sse.end"
            ]
        );
        // Every event frame has an id, ascending; the markers have none.
        let ids: Vec<i64> = frames[1..4].iter().map(|f| f.id.expect("id")).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert!(frames[0].id.is_none() && frames[4].id.is_none());
        for frame in &frames[1..4] {
            assert_eq!(frame.event.as_deref(), frame.data["type"].as_str());
        }
    }
    assert_eq!(
        stories[0].iter().map(|f| f.id).collect::<Vec<_>>(),
        stories[1].iter().map(|f| f.id).collect::<Vec<_>>()
    );

    // Resuming after the first event replays only what came after it.
    let first_id = stories[0][1].id.expect("id");
    let resumed = SseReader::open_after(&app, &run_id, first_id).await;
    let kinds: Vec<_> = resumed
        .frames_to_end()
        .await
        .iter()
        .map(|f| f.event.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        [
            "sse.connected",
            "command.enqueued",
            "run.completed",
            "sse.end"
        ]
    );

    // The history endpoint holds the same events, paged.
    let (status, page) = app
        .get_json(&format!("/runs/{run_id}/history?limit=2"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["events"].as_array().map(Vec::len), Some(2));
    let next = page["next_after"]
        .as_i64()
        .expect("a full page has next_after");
    let (_, rest) = app
        .get_json(&format!("/runs/{run_id}/history?after={next}"))
        .await;
    assert_eq!(rest["events"][0]["event"]["type"], "run.completed");
    assert_eq!(rest["next_after"], Value::Null);
}

#[tokio::test]
async fn a_redriven_dead_letter_replays_past_its_first_end() {
    let app = TestApp::spawn().await;
    let run_id = create_run(&app).await;
    record(&app, dead_lettered(&run_id)).await;
    let redriven = Event::RunRedriven {
        ts: now_ms(),
        run_id: RunId::parse(&run_id).expect("id"),
        by: "test".into(),
        reason: None,
        redrive: 1,
        attempt: 1,
    };
    record(&app, redriven).await;
    let mut sse = SseReader::open_after(&app, &run_id, 0).await;
    // connected, created, enqueued, dlq, redriven: no end after the dead letter.
    let events = sse.next(5).await;
    assert_eq!(events[3]["type"], "run.dlq");
    assert_eq!(events[4]["type"], "run.redriven");
    record(&app, completed(&run_id)).await;
    let frames = sse.frames_to_end().await;
    let kinds: Vec<_> = frames
        .iter()
        .map(|f| f.event.clone().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["run.completed", "sse.end"]);
}

#[tokio::test]
async fn bad_last_event_ids_and_history_parameters_are_422() {
    let app = TestApp::spawn().await;
    let run_id = create_run(&app).await;
    for bad in ["-1", "x", "1.5"] {
        let response = app
            .http
            .get(app.url(&format!("/runs/{run_id}/events")))
            .header("Last-Event-ID", bad)
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 422, "{bad}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["field"], "Last-Event-ID");
    }
    for (query, field) in [
        ("after=-3", "after"),
        ("limit=0", "limit"),
        ("afterr=1", "afterr"),
    ] {
        let (status, body) = app
            .get_json(&format!("/runs/{run_id}/history?{query}"))
            .await;
        assert_eq!(status, 422, "{query}: {body}");
        assert!(
            body["message"].as_str().unwrap_or("").contains(field),
            "{body}"
        );
    }
    let (status, _) = app.get_json("/runs/nope/history").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn runs_and_streams_survive_an_api_restart_and_shutdown_ends_streams() {
    let mut app = TestApp::spawn().await;
    let run_id = create_run(&app).await;
    let mut sse = SseReader::open(&app, &run_id, "before").await;
    assert_eq!(sse.next(3).await.len(), 3);

    // Graceful shutdown with a stream open: the stream ends, the server stops in time.
    let restarted = ApiServer::start(&app.config).await;
    std::mem::replace(&mut app.api, restarted).stop().await;
    sse.ended().await;

    // A new process on the same store and broker knows the run.
    let (status, run) = app.get_json(&format!("/runs/{run_id}")).await;
    assert_eq!((status, run["status"].as_str()), (200, Some("queued")));
    let mut sse = SseReader::open(&app, &run_id, "after").await;
    let events = sse.next(3).await;
    assert_eq!(events[0]["type"], "sse.connected");
    assert_eq!(
        sorted_types(&events[1..]),
        ["command.enqueued", "run.created"]
    );
    // The history is the store's: the broker plays no part in it.
    app.stop_broker().await;
    record(&app, completed(&run_id)).await;
    assert_eq!(sse.next(1).await[0]["type"], "run.completed");
}
