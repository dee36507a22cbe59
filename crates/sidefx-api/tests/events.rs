//! Black-box tests of the SSE stream `GET /runs/{id}/events`: first frame, live events,
//! undecodable messages, API restarts and a broker that forgot the topic.

mod common;

use common::{ApiServer, DEADLINE, SseReader, TestApp};
use driftq_client::ProduceRequest;
use serde_json::{Value, json};
use sidefx_core::{Event, Publisher, RunId, now_ms};
use sidefx_testkit::poll_until;

async fn create_run(app: &TestApp) -> String {
    let response = app
        .post_run(&json!({"business_key": "order-sse"}), None)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    body["run_id"].as_str().expect("run_id").to_owned()
}

/// The `type`s of the events, sorted: the broker may hand over one burst out of order.
fn sorted_types(events: &[Value]) -> Vec<String> {
    let mut types: Vec<String> = events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?").to_owned())
        .collect();
    types.sort();
    types
}

async fn publish_completed(broker_url: &str, run_id: &str) {
    let publisher = Publisher::new(driftq_client::Client::new(broker_url).expect("client"));
    let run_id = RunId::parse(run_id).expect("run id");
    let event = Event::RunCompleted {
        ts: now_ms(),
        run_id,
    };
    publisher.event(&event).await.expect("publish");
}

#[tokio::test]
async fn sse_sends_connected_then_the_runs_events_live() {
    let app = TestApp::spawn().await;
    let run_id = create_run(&app).await;
    let mut sse = SseReader::open(&app, &run_id, "tab-1").await;

    let first = sse.next(1).await;
    assert_eq!(first[0], json!({"type": "sse.connected", "run_id": run_id}));
    let events = sse.next(2).await;
    assert_eq!(sorted_types(&events), ["command.enqueued", "run.created"]);
    assert!(events.iter().all(|e| e["run_id"] == run_id.as_str()));

    // Garbage on the topic is skipped; later events still arrive.
    let topic = format!("sidefx.events.{run_id}");
    let garbage = ProduceRequest::new(&topic, "not an event");
    app.driftq()
        .produce(&garbage)
        .await
        .expect("produce garbage");
    publish_completed(&app.broker_url, &run_id).await;
    let live = sse.next(1).await;
    assert_eq!(live[0]["type"], "run.completed");
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
}

#[tokio::test]
async fn sse_recreates_an_events_topic_the_broker_forgot() {
    let mut app = TestApp::spawn().await;
    let run_id = create_run(&app).await;

    // Every topic is gone, but the API's publisher still believes the events topic exists.
    app.restart_broker_empty().await;

    let mut sse = SseReader::open(&app, &run_id, "tab").await;
    assert_eq!(sse.next(1).await[0]["type"], "sse.connected");
    // Only the stream's recovery can bring the topic back.
    let client = app.driftq();
    let topic = format!("sidefx.events.{run_id}");
    poll_until("the run's events topic", DEADLINE, || async {
        let topics = client.list_topics().await.ok()?;
        topics.contains(&topic).then_some(())
    })
    .await;
    let event = Event::RunCompleted {
        ts: now_ms(),
        run_id: RunId::parse(&run_id).expect("id"),
    };
    let produce = ProduceRequest::new(&topic, serde_json::to_string(&event).expect("json"));
    client.produce(&produce).await.expect("produce");
    assert_eq!(sse.next(1).await[0]["type"], "run.completed");
}
