//! The queries behind the redrive sweeper: which runs count as stalled (not those the run
//! outbox still owes the broker, nor legacy `rejected` ones), the fence that lets one sweeper
//! win each stall, and the requeue of a legacy `rejected` run.

use sidefx_core::{
    BusinessKey, CreateRun, NewRetry, NewRun, RunCommand, RunId, RunRequest, RunRow, RunStatus,
    Store, now_ms,
};

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.sqlite")).await.unwrap();
    (dir, store)
}

fn request() -> RunRequest {
    RunRequest {
        business_key: BusinessKey::parse("order-1").unwrap(),
        amount: 9.5,
        fail_before_effect_n: 0,
        fail_mode: sidefx_core::FailMode::None,
        max_attempts: 5,
    }
}

fn new_run(run: &str) -> NewRun {
    let request_json = request().canonical_json().unwrap();
    NewRun {
        run_id: RunId::parse(run).unwrap(),
        business_key: request().business_key,
        request_fingerprint: request_json.clone(),
        request_json,
        idempotency_key: None,
    }
}

/// A run registered without an outbox row: as if its messages were published (and lost).
async fn create(store: &Store, run: &str) -> RunRow {
    let created = store.create_run(new_run(run)).await.unwrap();
    let CreateRun::Created(row) = created else {
        panic!("{created:?}")
    };
    row
}

fn command(run: &RunRow, attempt: u32) -> RunCommand {
    request().command(&run.run_id, attempt, 1)
}

/// Everything stalled right now: a cut-off in the future makes every row old enough.
async fn stalled_ids(store: &Store) -> Vec<String> {
    let rows = store.stalled_runs(now_ms() + 60_000, 0, 100).await.unwrap();
    rows.into_iter().map(|r| r.run_id.to_string()).collect()
}

#[tokio::test]
async fn unfinished_runs_without_a_waiting_retry_are_stalled() {
    let (_dir, store) = store().await;
    let queued = create(&store, "queued").await;
    let running = create(&store, "running").await;
    store
        .update_run(&running.run_id, RunStatus::Running, 1)
        .await
        .unwrap();
    let waiting = create(&store, "waiting").await;
    store
        .update_run(&waiting.run_id, RunStatus::Retrying, 1)
        .await
        .unwrap();
    let retry = NewRetry::for_command(&command(&waiting, 1), now_ms()).unwrap();
    store.schedule_retry(retry).await.unwrap();
    for (run, status) in [
        ("done", RunStatus::Completed),
        ("dead", RunStatus::DeadLettered),
    ] {
        let row = create(&store, run).await;
        store.update_run(&row.run_id, status, 1).await.unwrap();
    }
    // Answered 503 by a version before the run outbox: nothing was promised.
    let refused = create(&store, "refused").await;
    store
        .update_run(&refused.run_id, RunStatus::Rejected, 0)
        .await
        .unwrap();
    // Accepted, its messages still owed by the run outbox: the API's relay has it.
    let owed = store.accept_run(new_run("owed"), 10, 0).await.unwrap();
    assert!(matches!(owed, CreateRun::Created(_)), "{owed:?}");

    let mut ids = stalled_ids(&store).await;
    ids.sort();
    assert_eq!(ids, ["queued", "running"]);
    // Once the relay published it, it can stall like any other.
    store
        .runs_published(vec![RunId::parse("owed").unwrap()])
        .await
        .unwrap();
    assert!(stalled_ids(&store).await.contains(&"owed".to_owned()));
    // Not old enough: nothing.
    let fresh = store
        .stalled_runs(queued.updated_ms - 1, 0, 100)
        .await
        .unwrap();
    assert!(fresh.is_empty(), "{fresh:?}");

    // Once the retry has left the outbox, a retrying run can stall too.
    let key = command(&waiting, 1).idempotency_key();
    store.retry_published(&key).await.unwrap();
    assert!(stalled_ids(&store).await.contains(&"waiting".to_owned()));
}

#[tokio::test]
async fn one_sweeper_wins_each_stall_and_progress_cancels_it() {
    let (_dir, store) = store().await;
    let run = create(&store, "r1").await;
    let seen = store.stalled_runs(now_ms() + 60_000, 0, 1).await.unwrap();
    let seen = &seen[0];

    let stamp = store
        .claim_redrive(seen)
        .await
        .unwrap()
        .expect("first wins");
    assert!(stamp > seen.updated_ms, "the stamp is new");
    assert_eq!(
        store.claim_redrive(seen).await.unwrap(),
        None,
        "a second sweeper with the same view loses"
    );
    let after = store.get_run(&run.run_id).await.unwrap().unwrap();
    assert_eq!(
        (after.status, after.updated_ms, after.redrives),
        (RunStatus::Queued, stamp, 1),
        "the winner counts one redrive, the loser none"
    );

    // A worker's progress between the sweep's select and its claim wins over the redrive.
    let again = store.stalled_runs(now_ms() + 60_000, 0, 1).await.unwrap();
    store
        .update_run(&run.run_id, RunStatus::Running, 1)
        .await
        .unwrap();
    assert_eq!(store.claim_redrive(&again[0]).await.unwrap(), None);
    let last = store.get_run(&run.run_id).await.unwrap().unwrap();
    assert_eq!(last.redrives, 1);
}

#[tokio::test]
async fn a_legacy_rejected_run_is_requeued_with_its_outbox_row_once() {
    let (_dir, store) = store().await;
    let refused = create(&store, "refused").await;
    store
        .update_run(&refused.run_id, RunStatus::Rejected, 0)
        .await
        .unwrap();
    let row = store.get_run(&refused.run_id).await.unwrap().unwrap();
    assert!(!row.status.is_final(), "a re-sent request revives it");

    assert!(
        store
            .requeue_rejected_run(&refused.run_id, 0)
            .await
            .unwrap()
    );
    let row = store.get_run(&refused.run_id).await.unwrap().unwrap();
    assert_eq!(row.status, RunStatus::Queued);
    let owed = store.due_pending_runs(now_ms(), 10).await.unwrap();
    assert_eq!(owed.len(), 1, "{owed:?}");
    assert_eq!(owed[0].run.run_id, refused.run_id);
    // A second re-send finds it queued: nothing changes.
    assert!(
        !store
            .requeue_rejected_run(&refused.run_id, 0)
            .await
            .unwrap()
    );
    // A run of any other status is never requeued.
    let started = create(&store, "started").await;
    store
        .update_run(&started.run_id, RunStatus::Running, 1)
        .await
        .unwrap();
    assert!(
        !store
            .requeue_rejected_run(&started.run_id, 0)
            .await
            .unwrap()
    );
    assert_eq!(store.pending_run_count().await.unwrap(), 1);
}

#[test]
fn the_command_of_an_attempt_is_the_first_command_with_that_attempt() {
    let run_id = RunId::parse("r1").unwrap();
    let first = request().first_command(&run_id, 7);
    let third = request().command(&run_id, 2, 7);
    assert_eq!(
        third,
        RunCommand {
            attempt: 2,
            ..first.clone()
        }
    );
    assert_eq!(first.next_attempt(7).next_attempt(7), third);
}

#[tokio::test]
async fn a_version_2_database_gains_the_redrive_counter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let store = Store::open(&path).await.unwrap();
    let run = create(&store, "old").await;
    drop(store);
    // What a version 2 database looks like: no `redrives` column yet.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("ALTER TABLE runs DROP COLUMN redrives; PRAGMA user_version = 2;")
        .unwrap();
    drop(conn);

    let store = Store::open(&path).await.unwrap();
    let row = store.get_run(&run.run_id).await.unwrap().unwrap();
    assert_eq!(row.redrives, 0);
    let seen = store.stalled_runs(now_ms() + 60_000, 0, 1).await.unwrap();
    assert!(store.claim_redrive(&seen[0]).await.unwrap().is_some());
    let row = store.get_run(&run.run_id).await.unwrap().unwrap();
    assert_eq!(row.redrives, 1);
}

#[tokio::test]
async fn each_redrive_doubles_the_wait_before_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.sqlite")).await.unwrap();
    let run = create(&store, "stuck").await;
    let after = 1_000;
    let seen = store
        .stalled_runs(run.updated_ms + after, after, 1)
        .await
        .unwrap();
    let stamp = store
        .claim_redrive(&seen[0])
        .await
        .unwrap()
        .expect("redriven once");
    // Redriven once: stalled again only after 2 x `after`, not after 1 x.
    let one = store.stalled_runs(stamp + after, after, 1).await.unwrap();
    assert!(one.is_empty(), "{one:?}");
    let two = store
        .stalled_runs(stamp + 2 * after, after, 1)
        .await
        .unwrap();
    assert_eq!(two.len(), 1);
    assert_eq!(two[0].redrives, 1);
}
