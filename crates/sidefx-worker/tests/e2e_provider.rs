//! End to end against the payments provider's failure windows, counted at its ledger: a
//! charge committed whose answer was lost, a 503 before anything was committed, and a call
//! slower than its timeout each end with exactly one charge; a declined card and a provider
//! that never recovers end in the DLQ with none. And the mutation check: a worker broken on
//! purpose must show up in the same ledgers as a double execution.

mod common;

use std::time::Duration;

use serde_json::json;
use sidefx_core::{BusinessKey, Event, RunStatus};
use sidefx_provider::{FaultRates, Rate};
use sidefx_testkit::{Effect, TestStack, poll_until};

const DEADLINE: Duration = Duration::from_secs(60);

async fn completes_with_one_charge(rates: FaultRates, key: &str) -> TestStack {
    let mut stack = common::stack()
        .effect(Effect::Provider(rates))
        .spawn()
        .await;
    let run = stack.post_run(json!({ "business_key": key }), None).await;
    stack
        .wait_status(&run, RunStatus::Completed, DEADLINE)
        .await;
    stack.assert_run_charged_once(&run).await;
    stack
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_whose_answer_was_lost_is_found_not_repeated() {
    let rates = FaultRates {
        drop_after_commit: Rate::ALWAYS,
        ..FaultRates::default()
    };
    let stack = completes_with_one_charge(rates, "lost-answer").await;
    // The unknown outcome was looked up by its reference instead of charged again.
    assert!(
        stack
            .logs()
            .contains("effect outcome was unknown; looked up: it happened"),
        "found at the provider:\n{}",
        stack.logs()
    );
    let ledger = stack.ledger().await;
    assert_eq!(ledger.total_requests, 1, "no repeat was needed: {ledger:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_before_commit_is_retried_with_the_same_key() {
    let rates = FaultRates {
        fail_before_commit: Rate::ALWAYS,
        ..FaultRates::default()
    };
    let mut stack = common::stack()
        .effect(Effect::Provider(rates))
        .spawn()
        .await;
    let run = stack
        .post_run(json!({ "business_key": "flaky" }), None)
        .await;
    let key = "charge_card:flaky".to_owned();
    poll_until("two refused attempts", DEADLINE, || async {
        let ledger = stack.ledger().await;
        (ledger.requests_per_key.get(&key).copied().unwrap_or(0) >= 2).then_some(())
    })
    .await;
    let provider = stack.provider.as_ref().expect("provider");
    provider.faults.set_rates(FaultRates::default());
    stack
        .wait_status(&run, RunStatus::Completed, DEADLINE)
        .await;
    stack.assert_run_charged_once(&run).await;
    let ledger = stack.ledger().await;
    assert!(ledger.requests_per_key[&key] >= 3, "{ledger:?}");
    assert_eq!(
        ledger.requests_per_key.len(),
        1,
        "one key for every attempt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_is_dead_lettered_at_once_and_never_charged() {
    let mut stack = common::stack()
        .effect(Effect::Provider(FaultRates::default()))
        .spawn()
        .await;
    let body = json!({ "business_key": "decline-42", "max_attempts": 3 });
    let run = stack.post_run(body, None).await;
    stack
        .wait_status(&run, RunStatus::DeadLettered, DEADLINE)
        .await;
    let ledger = stack.ledger().await;
    let key = "charge_card:decline-42".to_owned();
    assert_eq!(ledger.total_charges, 0, "{ledger:?}");
    assert_eq!(
        ledger.requests_per_key.get(&key),
        Some(&1),
        "a permanent error is not retried: {ledger:?}"
    );
    assert!(
        stack.effects(&run).await.is_empty(),
        "the claim was given back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_stays_down_exhausts_the_attempts_then_dead_letters() {
    let rates = FaultRates {
        fail_before_commit: Rate::ALWAYS,
        ..FaultRates::default()
    };
    let mut stack = common::stack()
        .effect(Effect::Provider(rates))
        .spawn()
        .await;
    let body = json!({ "business_key": "down", "max_attempts": 3 });
    let run = stack.post_run(body, None).await;
    stack
        .wait_status(&run, RunStatus::DeadLettered, DEADLINE)
        .await;
    let ledger = stack.ledger().await;
    let key = "charge_card:down".to_owned();
    assert_eq!(ledger.total_charges, 0, "{ledger:?}");
    assert_eq!(
        ledger.requests_per_key.get(&key),
        Some(&3),
        "one request per attempt, all with the same key: {ledger:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_slower_than_its_timeout_charges_once() {
    let rates = FaultRates {
        slow: Rate::ALWAYS,
        slow_for: Duration::from_millis(1500),
        ..FaultRates::default()
    };
    completes_with_one_charge(rates, "slow-call").await;
}

/// A charge slower than the DriftQ lease, with two workers given the same `DRIFTQ_OWNER`: the
/// command is redelivered while the first worker still waits for the provider. The heartbeat
/// claim lease is the worker's own (longer than the charge, renewed by the heartbeat) and the
/// per-process owner suffix keeps the other worker from taking the claim for its own, so the
/// provider sees one request for the key, and no 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_slower_than_the_broker_lease_is_requested_once_by_two_workers() {
    let rates = FaultRates {
        slow: Rate::ALWAYS,
        slow_for: Duration::from_millis(2500),
        ..FaultRates::default()
    };
    let mut stack = common::stack()
        .workers(0)
        .effect(Effect::Provider(rates))
        .spawn()
        .await;
    stack.set_worker_env("DRIFTQ_OWNER", "shared-name");
    // DriftQ redelivers after 1 s; the claim lease (renewed by the heartbeat) and the
    // provider timeout are longer than the charge.
    stack.set_worker_env("WORKER_CLAIM_LEASE_MS", "4000");
    stack.set_worker_env("PROVIDER_TIMEOUT_MS", "3500");
    stack.add_worker();
    stack.add_worker();
    stack.wait_workers_ready(DEADLINE).await;
    let run = stack
        .post_run(json!({ "business_key": "slow-two" }), None)
        .await;
    let key = "charge_card:slow-two".to_owned();
    stack
        .wait_status(&run, RunStatus::Completed, DEADLINE)
        .await;
    stack.assert_run_charged_once(&run).await;
    let ledger = stack.ledger().await;
    assert_eq!(ledger.requests_per_key.get(&key), Some(&1), "{ledger:?}");
}

/// One identity per business key: a client that posts the same order twice without an
/// `Idempotency-Key` gets two runs and one charge; the second run completes by skipping the
/// effect, naming the run that did it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_for_one_order_charge_it_once() {
    let mut stack = common::stack()
        .effect(Effect::Provider(FaultRates::default()))
        .spawn()
        .await;
    let first = stack
        .post_run(json!({ "business_key": "order-42" }), None)
        .await;
    stack
        .wait_status(&first, RunStatus::Completed, DEADLINE)
        .await;
    let second = stack
        .post_run(json!({ "business_key": "order-42" }), None)
        .await;
    assert_ne!(first, second, "no Idempotency-Key: two runs");
    stack
        .wait_status(&second, RunStatus::Completed, DEADLINE)
        .await;
    stack.assert_run_charged_once(&second).await;
    let ledger = stack.ledger().await;
    assert_eq!(ledger.total_charges, 1, "{ledger:?}");
    let events = common::events_until(&stack.client, &second, DEADLINE, |e| {
        e.iter().any(|e| matches!(e, Event::RunCompleted { .. }))
    })
    .await;
    assert!(
        events.iter().any(|e| matches!(e,
            Event::SideEffectSkipped { by_run: Some(by), .. } if *by == first)),
        "skipped, naming {first}: {events:?}"
    );
}

/// A run whose effect was dead-lettered leaves nothing behind that blocks the next run of
/// the same business key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_effect_does_not_block_a_later_run_of_its_key() {
    let rates = FaultRates {
        fail_before_commit: Rate::ALWAYS,
        ..FaultRates::default()
    };
    let mut stack = common::stack()
        .effect(Effect::Provider(rates))
        .spawn()
        .await;
    let body = json!({ "business_key": "order-7", "max_attempts": 2 });
    let first = stack.post_run(body.clone(), None).await;
    stack
        .wait_status(&first, RunStatus::DeadLettered, DEADLINE)
        .await;
    let provider = stack.provider.as_ref().expect("provider");
    provider.faults.set_rates(FaultRates::default());
    let second = stack.post_run(body, None).await;
    stack
        .wait_status(&second, RunStatus::Completed, DEADLINE)
        .await;
    stack.assert_run_charged_once(&second).await;
}

/// The harness can fail: with the step broken on purpose, a crash before the ack makes the
/// redelivery execute again, and both ledgers say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mutation_shows_as_a_double_execution_in_both_ledgers() {
    for effect in [Effect::Ticket, Effect::Provider(FaultRates::default())] {
        let mut stack = common::stack().workers(0).effect(effect).spawn().await;
        stack.set_worker_env("SIDEFX_MUTATION", "rerun_effect");
        stack.add_worker();
        let body = json!({"business_key": "mutant", "fail_mode": "crash_after_effect_before_ack"});
        let run = stack.post_run(body, None).await;
        stack
            .wait_status(&run, RunStatus::Completed, DEADLINE)
            .await;
        let key = BusinessKey::parse("mutant").expect("key");
        let executions = stack.executions(&key).await;
        assert!(
            executions >= 2,
            "{effect:?}: the broken worker executed {executions} time(s):\n{}",
            stack.logs()
        );
    }
}

/// A claim older than the provider's key retention, whose charge a lookup does not find, is
/// not charged again automatically: the provider may have forgotten the key, and a repeat
/// could then charge twice. The run is dead-lettered with `idempotency_window_passed` (here
/// the worker died between claim and charge, and the retention is one second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_older_than_the_providers_key_retention_is_dead_lettered_not_repeated() {
    let mut stack = common::stack()
        .workers(0)
        .effect(Effect::Provider(FaultRates::default()))
        .spawn()
        .await;
    stack.set_worker_env("PROVIDER_KEY_RETENTION_SECS", "1");
    stack.add_worker();
    let body = json!({"business_key": "too-late", "fail_mode": "crash_after_claim_before_effect"});
    let run = stack.post_run(body, None).await;
    stack
        .wait_status(&run, RunStatus::DeadLettered, DEADLINE)
        .await;
    assert_eq!(stack.exits, vec![Some(137)], "{}", stack.logs());
    let ledger = stack.ledger().await;
    assert_eq!(
        ledger.requests_per_key.get("charge_card:too-late"),
        None,
        "never sent: {ledger:?}"
    );
    let record = poll_until("the DLQ record to be archived", DEADLINE, || async {
        let dead = stack
            .store
            .list_dead_letters(10)
            .await
            .expect("dead letters");
        dead.into_iter().find(|r| r.run_id == run)
    })
    .await;
    assert!(
        record.error.starts_with("idempotency_window_passed"),
        "{record:?}"
    );
    // The claim was given back: a person who re-posts the order gets it charged once.
    assert!(stack.effects(&run).await.is_empty());
}
