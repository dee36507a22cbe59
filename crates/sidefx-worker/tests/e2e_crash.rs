//! End to end: the worker is killed (exit 137) at each crash point of the exactly-once step;
//! the test restarts it like a supervisor, and the run completes with one effect.

mod common;

use std::time::Duration;

use common::stack::Stack;
use serde_json::json;
use sidefx_core::{EffectStatus, RunStatus};

async fn crash_and_recover(fail_mode: &str) {
    let mut stack = Stack::start(1).await;
    let body = json!({"business_key": format!("crash-{fail_mode}"), "fail_mode": fail_mode});
    let run = stack.post_run(body, None).await;
    stack
        .wait_status(&run, RunStatus::Completed, Duration::from_secs(60))
        .await;
    assert_eq!(
        stack.exits,
        vec![Some(137)],
        "one crash, then the restarted worker finished:\n{}",
        stack.logs()
    );
    stack.assert_effect_once(&run).await;
    assert_eq!(stack.ticket_count().await, 1);
    let effects = stack.store.list_effects(100).await.expect("effects");
    assert!(
        effects.iter().all(|e| e.status == EffectStatus::Done),
        "no in_progress row left: {effects:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_claim_before_effect() {
    crash_and_recover("crash_after_claim_before_effect").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_effect_before_mark_done() {
    crash_and_recover("crash_after_effect_before_mark_done").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_mark_done_before_ack() {
    crash_and_recover("crash_after_mark_done_before_ack").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_effect_before_ack() {
    crash_and_recover("crash_after_effect_before_ack").await;
}
