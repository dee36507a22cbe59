//! The redrive sweeper end to end: runs whose command the broker lost (what a restarted
//! DriftQ that resumed above an unacked command looks like, PROTOCOL Q1) still finish, each
//! effect once, while a run the API's outbox still owes the broker is left to its relay; and
//! a run that redriving does not move on is dead-lettered at the cap.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use sidefx_core::{
    BusinessKey, CreateRun, FailMode, NewRun, Publisher, RunId, RunRequest, RunRow, RunStatus,
    Store,
};
use sidefx_testkit::WorkerProcess;
use sidefx_worker::redrive::{RedrivePolicy, sweep};

const DEADLINE: Duration = Duration::from_secs(60);

fn request(key: &str, fail_before_effect_n: u32) -> RunRequest {
    RunRequest {
        business_key: BusinessKey::parse(key).expect("key"),
        amount: 12.5,
        fail_before_effect_n,
        fail_mode: FailMode::None,
        max_attempts: 3,
    }
}

fn new_run(request: &RunRequest) -> NewRun {
    let request_json = request.canonical_json().expect("json");
    NewRun {
        run_id: RunId::generate(),
        business_key: request.business_key.clone(),
        request_fingerprint: request_json.clone(),
        request_json,
        idempotency_key: None,
    }
}

/// Registers a run without an outbox row and publishes nothing: as if its messages were
/// published and the broker then lost its command.
async fn lost_run(store: &Store, key: &str, fail_before_effect_n: u32) -> RunRow {
    let created = store
        .create_run(new_run(&request(key, fail_before_effect_n)))
        .await
        .expect("create_run");
    let CreateRun::Created(row) = created else {
        panic!("{created:?}")
    };
    row
}

/// Accepts a run as `POST /runs` does (run and outbox row), with no API to publish it.
async fn owed_run(store: &Store, key: &str) -> RunRow {
    let created = store
        .accept_run(new_run(&request(key, 0)), 10, i64::MAX)
        .await
        .expect("accept_run");
    let CreateRun::Created(row) = created else {
        panic!("{created:?}")
    };
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_whose_command_was_lost_are_redriven_and_done_once() {
    let mut stack = common::stack().workers(0).spawn().await;
    // Lost before any worker saw it.
    let queued = lost_run(&stack.store, "lost-queued", 0).await;
    // Attempt 0 failed, its retry (attempt 1) left the outbox and was lost.
    let retrying = lost_run(&stack.store, "lost-retry", 1).await;
    stack
        .store
        .update_run(&retrying.run_id, RunStatus::Retrying, 1)
        .await
        .expect("update_run");
    // Accepted, and still in the run outbox (as if the API died before publishing): the
    // API's relay owes its messages, so no sweeper may publish a copy.
    let owed = owed_run(&stack.store, "owed").await;

    let log = std::fs::File::create(stack.log_path(1)).expect("log");
    let _worker = WorkerProcess::new(
        stack
            .worker_command()
            .env("WORKER_LEASE_MS", "1000")
            .env("WORKER_REDRIVE_AFTER_MS", "1000")
            .stderr(Stdio::from(log))
            .spawn()
            .expect("sidefx-worker starts"),
    );

    let done = stack
        .wait_status(&queued.run_id, RunStatus::Completed, DEADLINE)
        .await;
    assert_eq!(done.attempts, 1, "attempt 0 was redriven");
    // At least once; a slow machine may redrive again before the first one is picked up.
    assert!(done.redrives >= 1, "{done:?}");
    stack.assert_run_charged_once(&queued.run_id).await;
    let done = stack
        .wait_status(&retrying.run_id, RunStatus::Completed, DEADLINE)
        .await;
    assert_eq!(done.attempts, 2, "attempt 1 was redriven, not attempt 0");
    assert!(done.redrives >= 1, "{done:?}");
    stack.assert_run_charged_once(&retrying.run_id).await;

    // The owed run was as old as the others, so a sweep that selected it would have
    // redriven it by now.
    let owed = stack.store.get_run(&owed.run_id).await.expect("get_run");
    assert_eq!(
        owed.map(|r| (r.status, r.redrives)),
        Some((RunStatus::Queued, 0))
    );
    assert_eq!(stack.ticket_count().await, 2);
    let logs = std::fs::read_to_string(stack.log_path(1)).expect("worker log");
    let redrives: Vec<&str> = logs.lines().filter(|l| l.contains("redriven")).collect();
    assert!(redrives.len() >= 2, "a redrive per lost run:\n{logs}");
    let retried = redrives
        .iter()
        .find(|l| l.contains(retrying.run_id.as_str()))
        .expect("the retrying run was redriven");
    assert!(retried.contains("attempt=1"), "{retried}");
}

/// A run that redriving does not move on (here nobody consumes its commands, as when its
/// partition is held behind a poison message) is republished with a doubling wait, and
/// after `max_redrives` it is dead-lettered with `redrive_cap` instead of filling its
/// partition with copies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_redriving_does_not_move_is_dead_lettered_at_the_cap() {
    let stack = common::stack().workers(0).spawn().await;
    let stuck = lost_run(&stack.store, "poison", 0).await;
    let publisher = Publisher::new(stack.client.clone());
    let policy = RedrivePolicy {
        after: Duration::from_millis(100),
        max_redrives: 2,
    };

    // Sweep as often as we like: the store decides when the run is due again.
    let begun = Instant::now();
    let mut handled = Vec::new();
    while handled.len() < 3 {
        assert!(
            begun.elapsed() < DEADLINE,
            "only {handled:?} in {DEADLINE:?}"
        );
        if sweep(&stack.store, &publisher, policy)
            .await
            .expect("sweep")
            == 1
        {
            handled.push(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Two redrives, each waiting twice as long as the one before (100 ms, then 200, 400);
    // the store's clock steps in milliseconds, hence the slack.
    let slack = Duration::from_millis(10);
    assert!(
        handled[1] - handled[0] >= Duration::from_millis(200) - slack,
        "{handled:?}"
    );
    assert!(
        handled[2] - handled[1] >= Duration::from_millis(400) - slack,
        "{handled:?}"
    );
    let row = stack
        .store
        .get_run(&stuck.run_id)
        .await
        .expect("get_run")
        .expect("the run");
    assert_eq!(row.status, RunStatus::DeadLettered, "{row:?}");
    // Dead-lettered runs are out of the sweep for good.
    assert_eq!(
        sweep(&stack.store, &publisher, policy)
            .await
            .expect("sweep"),
        0
    );

    let record = common::first_dead_letter(&stack.client, DEADLINE).await;
    assert_eq!(record.run_id, stuck.run_id);
    assert!(record.error.starts_with("redrive_cap"), "{record:?}");
}
