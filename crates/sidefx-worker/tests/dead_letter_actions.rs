//! The dead-letter actions end to end, on a real broker, API and worker process: a run that
//! failed its attempts is redriven and completes (charged once), a dead letter whose business
//! key was charged by another run is refused, a discard ends the run for good, and each action
//! is in the run's history and its event stream.

use std::time::Duration;

use serde_json::{Value, json};
use sidefx_core::{BusinessKey, RunId, RunStatus};
use sidefx_testkit::TestStack;

const DEADLINE: Duration = Duration::from_secs(60);

/// A run that fails before its effect on its only attempt: dead-lettered, never charged.
async fn dead_letter(stack: &mut TestStack, key: &str) -> RunId {
    let body = json!({"business_key": key, "fail_before_effect_n": 1, "max_attempts": 1});
    let run = stack.post_run(body, None).await;
    stack
        .wait_status(&run, RunStatus::DeadLettered, DEADLINE)
        .await;
    run
}

async fn post(stack: &TestStack, path: &str, body: Value) -> (u16, Value) {
    let response = stack
        .http
        .post(format!("{}{path}", stack.api_url))
        .json(&body)
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

async fn history_types(stack: &TestStack, run: &RunId) -> Vec<String> {
    let url = format!("{}/runs/{run}/history", stack.api_url);
    let page: Value = stack
        .http
        .get(url)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    page["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[tokio::test]
async fn a_redriven_dead_letter_completes_once_and_its_story_says_so() {
    let mut stack = TestStack::spawn().await;
    let run = dead_letter(&mut stack, "dlq-redrive-1").await;
    assert_eq!(
        stack
            .executions(&BusinessKey::parse("dlq-redrive-1").unwrap())
            .await,
        0
    );

    let (status, view) = post(
        &stack,
        &format!("/runs/{run}/redrive"),
        json!({"reason": "fixed the bug", "by": "test"}),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["dlq_redrives"], 1);
    assert_eq!(view["attempt_budget"], 2);
    // The new round's first attempt (attempt 1) is past the failures: it completes.
    stack
        .wait_status(&run, RunStatus::Completed, DEADLINE)
        .await;
    stack.assert_run_charged_once(&run).await;

    let types = history_types(&stack, &run).await;
    let at = |kind: &str| types.iter().position(|t| t == kind).unwrap_or(usize::MAX);
    assert!(at("run.dlq") < at("run.redriven"), "{types:?}");
    assert!(at("run.redriven") < at("side_effect.done"), "{types:?}");
    assert_eq!(
        types.last().map(String::as_str),
        Some("run.completed"),
        "{types:?}"
    );

    // Completed now: a second redrive is refused, and says why.
    let (status, body) = post(&stack, &format!("/runs/{run}/redrive"), json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("not_dead_lettered")),
        "{body}"
    );
}

#[tokio::test]
async fn a_dead_letter_of_a_charged_order_is_refused_and_a_discard_is_final() {
    let mut stack = TestStack::spawn().await;
    let charged = stack
        .post_run(json!({"business_key": "dlq-charged"}), None)
        .await;
    stack
        .wait_status(&charged, RunStatus::Completed, DEADLINE)
        .await;
    // A second run of the same order, dead-lettered before its effect.
    let second = dead_letter(&mut stack, "dlq-charged").await;
    let (status, body) = post(&stack, &format!("/runs/{second}/redrive"), json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("effect_done")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains(charged.as_str()),
        "{body}"
    );

    // The bulk redrive lists it among the refused, with the same reason.
    let (status, bulk) = post(
        &stack,
        "/dlq/redrive",
        json!({"business_key": "dlq-charged", "reason": "retry all"}),
    )
    .await;
    assert_eq!(status, 200, "{bulk}");
    assert_eq!(bulk["redriven"], json!([]));
    assert_eq!(bulk["refused"][0]["run_id"], second.as_str());
    assert_eq!(bulk["refused"][0]["error"], "effect_done");

    // A discard needs a reason, then ends the run for good.
    let (status, body) = post(&stack, &format!("/runs/{second}/discard"), json!({})).await;
    assert_eq!(status, 422, "{body}");
    let (status, view) = post(
        &stack,
        &format!("/runs/{second}/discard"),
        json!({"reason": "duplicate order"}),
    )
    .await;
    assert_eq!(
        (status, view["status"].as_str()),
        (200, Some("discarded")),
        "{view}"
    );
    let types = history_types(&stack, &second).await;
    assert_eq!(types.last().map(String::as_str), Some("run.discarded"));
    let (status, body) = post(
        &stack,
        &format!("/runs/{second}/discard"),
        json!({"reason": "x"}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("not_dead_lettered"))
    );
    let (status, _) = post(&stack, "/runs/unknown-run/redrive", json!({})).await;
    assert_eq!(status, 404);
    // Still one charge for the order.
    stack
        .assert_charged_once(&BusinessKey::parse("dlq-charged").unwrap())
        .await;
}
