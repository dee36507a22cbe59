//! End to end: driftq-local and the API in-process, `sidefx-worker` as a real process.

mod common;

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use sidefx_core::{DlqRecord, RunStatus};
use sidefx_testkit::poll_until;

const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_run_retries_then_performs_the_effect_once() {
    let mut stack = common::stack().spawn().await;
    let body = json!({"business_key": "demo-1", "fail_before_effect_n": 1, "max_attempts": 5});
    let run = stack.post_run(body, None).await;
    stack
        .wait_status(&run, RunStatus::Completed, DEADLINE)
        .await;
    stack.assert_run_charged_once(&run).await;
    let events = common::events_until(&stack.client, &run, DEADLINE, |e| {
        e.iter().any(|e| e.kind() == "run.completed")
    })
    .await;
    let kinds = common::kinds(&events);
    common::assert_in_order(
        &kinds,
        &[
            "run.created",
            "step.started",
            "step.failed",
            "retry.considered",
            "retry.scheduled",
            "step.started",
            "side_effect.executing",
            "side_effect.done",
            "step.completed",
            "run.completed",
        ],
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "side_effect.executing")
            .count(),
        1,
        "{kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posts_with_one_idempotency_key_make_one_run() {
    let mut stack = common::stack().spawn().await;
    let body = json!({"business_key": "idem-1"});
    let (a, b) = tokio::join!(
        stack.post_run(body.clone(), Some("client-key-1")),
        stack.post_run(body.clone(), Some("client-key-1")),
    );
    assert_eq!(a, b, "one run for one Idempotency-Key");
    stack.wait_status(&a, RunStatus::Completed, DEADLINE).await;
    stack.assert_run_charged_once(&a).await;
    assert_eq!(stack.ticket_count().await, 1);
    assert_eq!(stack.store.list_runs(100).await.expect("runs").len(), 1);
}

#[derive(Debug, Deserialize)]
struct DlqPage {
    items: Vec<DlqRecord>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_attempts_end_in_the_dlq_archive() {
    let mut stack = common::stack().spawn().await;
    let body = json!({"business_key": "dlq-1", "fail_before_effect_n": 9, "max_attempts": 3});
    let run = stack.post_run(body, None).await;
    let row = stack
        .wait_status(&run, RunStatus::DeadLettered, DEADLINE)
        .await;
    assert_eq!(row.attempts, 3);
    let url = format!("{}/debug/dlq", stack.api_url);
    let http = stack.http.clone();
    let items = poll_until("the dead letter in /debug/dlq", DEADLINE, || async {
        let page: DlqPage = http.get(&url).send().await.ok()?.json().await.ok()?;
        (!page.items.is_empty()).then_some(page.items)
    })
    .await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].run_id, run);
    assert_eq!(items[0].attempt, 2);
    assert!(stack.effects(&run).await.is_empty(), "the effect never ran");
    assert_eq!(stack.ticket_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_and_exits_zero() {
    let mut stack = common::stack().spawn().await;
    let run = stack
        .post_run(json!({"business_key": "term-1"}), None)
        .await;
    stack
        .wait_status(&run, RunStatus::Completed, DEADLINE)
        .await;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(stack.worker_pid(0)).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let code = stack.wait_worker_exit(0, Duration::from_secs(20)).await;
    assert_eq!(code, Some(0), "{}", stack.logs());
}
