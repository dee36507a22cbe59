//! End to end: the worker is killed (exit 137) at each crash point of the exactly-once step,
//! in ticket mode and against the payments provider; the test restarts it like a supervisor,
//! and the run completes with exactly one execution, counted at the effect's ledger, by the
//! recovery path that crash point calls for.

mod common;

use std::time::Duration;

use serde_json::json;
use sidefx_core::{EffectStatus, Event, RunStatus};
use sidefx_provider::FaultRates;
use sidefx_testkit::Effect;

/// The event that names how the restarted worker recovered.
const TAKEN_OVER: &str = "side_effect.taken_over";
const HEALED: &str = "side_effect.healed";
const SKIPPED: &str = "side_effect.skipped";

async fn crash_and_recover(effect: Effect, fail_mode: &str, recovery: &str) {
    let mut stack = common::stack().effect(effect).spawn().await;
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
    stack.assert_run_charged_once(&run).await;
    assert_eq!(stack.ticket_count().await, 1);
    let effects = stack.store.list_effects(100).await.expect("effects");
    assert!(
        effects.iter().all(|e| e.status == EffectStatus::Done),
        "no in_progress row left: {effects:?}"
    );
    let events = common::events_until(&stack.client, &run, Duration::from_secs(20), |e| {
        e.iter().any(|e| matches!(e, Event::RunCompleted { .. }))
    })
    .await;
    let kinds = common::kinds(&events);
    assert!(
        kinds.contains(&recovery),
        "{fail_mode}: recovered by {recovery}: {kinds:?}"
    );
    if stack.provider.is_some() {
        // Nothing needed a repeat: the claim decided every delivery after the crash.
        let ledger = stack.ledger().await;
        let key = effects[0].effect_id.identity();
        assert_eq!(ledger.requests_per_key.get(&key), Some(&1), "{ledger:?}");
    }
}

fn provider() -> Effect {
    Effect::Provider(FaultRates::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_claim_before_effect() {
    crash_and_recover(
        Effect::Ticket,
        "crash_after_claim_before_effect",
        TAKEN_OVER,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_effect_before_mark_done() {
    crash_and_recover(
        Effect::Ticket,
        "crash_after_effect_before_mark_done",
        HEALED,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_mark_done_before_ack() {
    crash_and_recover(Effect::Ticket, "crash_after_mark_done_before_ack", SKIPPED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_effect_before_ack() {
    crash_and_recover(Effect::Ticket, "crash_after_effect_before_ack", SKIPPED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_crash_after_claim_before_effect() {
    crash_and_recover(provider(), "crash_after_claim_before_effect", TAKEN_OVER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_crash_after_effect_before_mark_done() {
    crash_and_recover(provider(), "crash_after_effect_before_mark_done", HEALED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_crash_after_mark_done_before_ack() {
    crash_and_recover(provider(), "crash_after_mark_done_before_ack", SKIPPED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_crash_after_effect_before_ack() {
    crash_and_recover(provider(), "crash_after_effect_before_ack", SKIPPED).await;
}
