//! The run registry and its run outbox (`accept_run`: a run and what it owes the broker commit
//! together, a full outbox refuses new runs storing nothing), the retry outbox, schema
//! migration and durability across reopen.

use std::path::Path;

use sidefx_core::{
    BusinessKey, Claim, CreateRun, NewClaim, NewRetry, NewRun, RunCommand, RunId, RunStatus,
    StepId, Store, StoreError, now_ms,
};

fn new_run(run: &str, key: Option<&str>, fingerprint: &str) -> NewRun {
    NewRun {
        run_id: RunId::parse(run).unwrap(),
        business_key: BusinessKey::parse("order-1").unwrap(),
        request_json: r#"{"business_key":"order-1"}"#.to_owned(),
        idempotency_key: key.map(str::to_owned),
        request_fingerprint: fingerprint.to_owned(),
    }
}

fn command(run: &str, attempt: u32) -> RunCommand {
    let run_id = RunId::parse(run).unwrap();
    RunCommand {
        ts: 1,
        events_topic: sidefx_core::events_topic(&run_id),
        run_id,
        step_id: StepId::charge_card(),
        business_key: BusinessKey::parse("order-1").unwrap(),
        amount: 9.5,
        attempt,
        max_attempts: 5,
        fail_before_effect_n: 0,
        fail_mode: sidefx_core::FailMode::None,
        redrive: None,
    }
}

#[tokio::test]
async fn run_idempotency_created_replayed_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.sqlite")).await.unwrap();

    let CreateRun::Created(first) = store
        .create_run(new_run("r1", Some("idem-1"), "fp-a"))
        .await
        .unwrap()
    else {
        panic!("expected Created");
    };
    assert_eq!((first.status, first.attempts), (RunStatus::Queued, 0));

    // Same key, same request, new random run id: the client retried; it gets the first run.
    let replay = store
        .create_run(new_run("r2", Some("idem-1"), "fp-a"))
        .await
        .unwrap();
    assert_eq!(replay, CreateRun::Replayed(first.clone()));
    let conflict = store
        .create_run(new_run("r3", Some("idem-1"), "fp-b"))
        .await
        .unwrap();
    assert_eq!(conflict, CreateRun::KeyConflict(first));

    // No key: every request is a new run (NULL keys do not collide).
    for run in ["n1", "n2"] {
        assert!(matches!(
            store.create_run(new_run(run, None, "fp-a")).await.unwrap(),
            CreateRun::Created(_)
        ));
    }
    let dup = store
        .create_run(new_run("n1", None, "fp-a"))
        .await
        .unwrap_err();
    assert!(matches!(dup, StoreError::DuplicateRunId(_)), "{dup}");
    assert_eq!(store.list_runs(10).await.unwrap().len(), 3);
    assert!(
        store
            .get_run(&RunId::parse("r2").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn update_run_never_moves_a_finished_run_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.sqlite")).await.unwrap();
    for (run, last) in [
        ("done", RunStatus::Completed),
        ("dlq", RunStatus::DeadLettered),
    ] {
        let id = RunId::parse(run).unwrap();
        store.create_run(new_run(run, None, "fp")).await.unwrap();
        store.update_run(&id, RunStatus::Retrying, 2).await.unwrap();
        store.update_run(&id, RunStatus::Running, 1).await.unwrap();
        let row = store.get_run(&id).await.unwrap().unwrap();
        assert_eq!(
            (row.status, row.attempts),
            (RunStatus::Running, 2),
            "attempts never decrease"
        );

        store.update_run(&id, last, 3).await.unwrap();
        store.update_run(&id, RunStatus::Running, 4).await.unwrap();
        store.update_run(&id, RunStatus::Queued, 0).await.unwrap();
        let row = store.get_run(&id).await.unwrap().unwrap();
        assert_eq!((row.status, row.attempts), (last, 3));
    }
    // Unknown runs are a no-op, not an error.
    store
        .update_run(&RunId::parse("ghost").unwrap(), RunStatus::Running, 1)
        .await
        .unwrap();
}

#[tokio::test]
async fn retry_outbox_orders_by_due_time_and_deduplicates() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.sqlite")).await.unwrap();
    assert_eq!(store.next_retry_due_ms().await.unwrap(), None);

    for (run, due) in [("late", 300), ("early", 100), ("mid", 200)] {
        store
            .schedule_retry(NewRetry::for_command(&command(run, 1), due).unwrap())
            .await
            .unwrap();
    }
    // Same key again (a redelivered failure): ignored, the first due time stays.
    store
        .schedule_retry(NewRetry::for_command(&command("early", 1), 5).unwrap())
        .await
        .unwrap();
    assert_eq!(store.next_retry_due_ms().await.unwrap(), Some(100));

    let due = store.due_retries(250, 10).await.unwrap();
    let keys: Vec<_> = due.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "cmd:early:charge_card:order-1:a1",
            "cmd:mid:charge_card:order-1:a1"
        ]
    );
    assert_eq!(
        due[0].command().unwrap(),
        sidefx_core::Command::Run(command("early", 1))
    );
    assert_eq!(store.due_retries(250, 1).await.unwrap().len(), 1);

    store.retry_published(&due[0].key).await.unwrap();
    store.retry_published(&due[0].key).await.unwrap();
    assert_eq!(store.next_retry_due_ms().await.unwrap(), Some(200));
    assert_eq!(store.due_retries(i64::MAX, 10).await.unwrap().len(), 2);
}

/// Creates a database exactly as the original starter did, with one row in it.
fn create_original_database(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS side_effects (
           effect_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, step_id TEXT NOT NULL,
           business_key TEXT NOT NULL, status TEXT NOT NULL, artifact_path TEXT,
           created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, payload_json TEXT NOT NULL);
         CREATE INDEX IF NOT EXISTS idx_side_effects_run_id ON side_effects(run_id);
         CREATE INDEX IF NOT EXISTS idx_side_effects_business_key ON side_effects(business_key);
         INSERT INTO side_effects VALUES ('old:charge_card:k1', 'old', 'charge_card', 'k1',
           'in_progress', NULL, 1, 1, '{}');",
    )
    .unwrap();
}

#[tokio::test]
async fn an_original_database_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("side_effects.sqlite");
    create_original_database(&path);

    let store = Store::open(&path).await.unwrap();
    let rows = store.list_effects(10).await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(
        (row.owner.as_deref(), row.lease_expires_ms, row.attempts),
        (None, None, 0)
    );
    assert!(row.lease_expired(0));
    // An ownerless claim left by the original can be taken over with expected owner "".
    let lease = std::time::Duration::from_secs(30);
    assert!(
        store
            .take_over(&row.effect_id, "", "w1", lease)
            .await
            .unwrap()
    );
    drop(store);

    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 8);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn reopening_keeps_data_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dirs/s.sqlite");
    let store = Store::open(&path).await.unwrap();
    store
        .create_run(new_run("r1", Some("k"), "fp"))
        .await
        .unwrap();
    let claim =
        NewClaim::for_command(&command("r1", 0), "w1", std::time::Duration::from_secs(5)).unwrap();
    store.claim(claim.clone()).await.unwrap();
    drop(store);

    let store = Store::open(&path).await.unwrap();
    assert!(
        store
            .get_run(&RunId::parse("r1").unwrap())
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        store.claim(claim).await.unwrap(),
        Claim::InProgress(_)
    ));
    drop(store);

    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Store::open(&path).await.unwrap_err();
    assert!(
        matches!(err, StoreError::UnsupportedSchema { found: 99, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn dead_letters_are_archived_once_and_listed_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.sqlite")).await.unwrap();
    let first = sidefx_core::DlqRecord::for_command(&command("run-a", 4), "boom", 10);
    let second = sidefx_core::DlqRecord::for_command(&command("run-b", 4), "bang", 20);

    assert!(store.archive_dead_letter(&first).await.unwrap());
    assert!(
        !store.archive_dead_letter(&first).await.unwrap(),
        "redelivered record archived twice"
    );
    assert!(store.archive_dead_letter(&second).await.unwrap());

    assert_eq!(store.count_dead_letters().await.unwrap(), 2);
    let listed = store.list_dead_letters(10).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&first) && listed.contains(&second));
    assert_eq!(store.list_dead_letters(1).await.unwrap().len(), 1);
}

// The run outbox.

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.sqlite")).await.unwrap();
    (dir, store)
}

fn id(run: &str) -> RunId {
    RunId::parse(run).unwrap()
}

async fn owed(store: &Store) -> Vec<String> {
    let due = store.due_pending_runs(i64::MAX, 100).await.unwrap();
    due.into_iter().map(|p| p.run.run_id.to_string()).collect()
}

#[tokio::test]
async fn an_accepted_run_and_its_outbox_row_commit_together() {
    let (_dir, store) = store().await;
    let due_ms = now_ms() + 5_000;
    let created = store
        .accept_run(new_run("r1", Some("k1"), "fp"), 10, due_ms)
        .await
        .unwrap();
    let CreateRun::Created(row) = created else {
        panic!("{created:?}")
    };
    assert_eq!(owed(&store).await, ["r1"]);
    // Not due before the request's own publish had its chance.
    assert!(
        store
            .due_pending_runs(due_ms - 1, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let pending = &store.due_pending_runs(due_ms, 10).await.unwrap()[0];
    assert_eq!((&pending.run, pending.attempts), (&row, 0));

    // A replay of the key answers with the run and owes nothing new.
    let replay = store
        .accept_run(new_run("r2", Some("k1"), "fp"), 10, due_ms)
        .await
        .unwrap();
    assert_eq!(replay, CreateRun::Replayed(row.clone()));
    let conflict = store
        .accept_run(new_run("r3", Some("k1"), "other"), 10, due_ms)
        .await
        .unwrap();
    assert_eq!(conflict, CreateRun::KeyConflict(row));
    assert_eq!(store.pending_run_count().await.unwrap(), 1);
}

#[tokio::test]
async fn a_full_outbox_refuses_new_runs_and_stores_nothing() {
    let (_dir, store) = store().await;
    for run in ["r1", "r2"] {
        let created = store
            .accept_run(new_run(run, Some(run), "fp"), 2, 0)
            .await
            .unwrap();
        assert!(matches!(created, CreateRun::Created(_)), "{created:?}");
    }
    let refused = store
        .accept_run(new_run("r3", Some("r3"), "fp"), 2, 0)
        .await
        .unwrap();
    assert_eq!(refused, CreateRun::OutboxFull { limit: 2 });
    assert_eq!(store.get_run(&id("r3")).await.unwrap(), None);
    assert_eq!(store.list_runs(10).await.unwrap().len(), 2);
    // A replay is still answered: it stores nothing.
    let replay = store
        .accept_run(new_run("r9", Some("r1"), "fp"), 2, 0)
        .await
        .unwrap();
    assert!(matches!(replay, CreateRun::Replayed(_)), "{replay:?}");

    // Once the relay published one, there is room again.
    store.runs_published(vec![id("r1")]).await.unwrap();
    let created = store
        .accept_run(new_run("r3", Some("r3"), "fp"), 2, 0)
        .await
        .unwrap();
    assert!(matches!(created, CreateRun::Created(_)), "{created:?}");
    let mut ids = owed(&store).await;
    ids.sort();
    assert_eq!(ids, ["r2", "r3"]);
}

#[tokio::test]
async fn a_failed_publish_is_rescheduled_and_counted() {
    let (_dir, store) = store().await;
    store
        .accept_run(new_run("r1", None, "fp"), 10, 0)
        .await
        .unwrap();
    let later = now_ms() + 60_000;
    store
        .run_publish_failed(&id("r1"), later, "broker unavailable")
        .await
        .unwrap();
    assert!(
        store
            .due_pending_runs(later - 1, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let pending = &store.due_pending_runs(later, 10).await.unwrap()[0];
    assert_eq!(
        (
            pending.attempts,
            pending.due_ms,
            pending.last_error.as_deref()
        ),
        (1, later, Some("broker unavailable"))
    );
    store.runs_published(vec![id("r1")]).await.unwrap();
    assert!(owed(&store).await.is_empty());
    // Publishing twice (the request's try and the relay's) is harmless.
    store.runs_published(vec![id("r1")]).await.unwrap();
}

#[tokio::test]
async fn what_the_outbox_owes_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    {
        let store = Store::open(&path).await.unwrap();
        store
            .accept_run(new_run("r1", None, "fp"), 10, 0)
            .await
            .unwrap();
    }
    let store = Store::open(&path).await.unwrap();
    assert_eq!(owed(&store).await, ["r1"]);
}
