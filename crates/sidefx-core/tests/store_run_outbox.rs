//! The run outbox: `accept_run` commits a run and what it owes the broker together, refuses
//! new runs (storing nothing) at its bound, and the relay's queries take, reschedule and
//! clear the rows.

use sidefx_core::{BusinessKey, CreateRun, NewRun, RunId, Store, now_ms};

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.sqlite")).await.unwrap();
    (dir, store)
}

fn new_run(run: &str, key: Option<&str>, fingerprint: &str) -> NewRun {
    NewRun {
        run_id: RunId::parse(run).unwrap(),
        business_key: BusinessKey::parse("order-1").unwrap(),
        request_json: r#"{"business_key":"order-1"}"#.to_owned(),
        idempotency_key: key.map(str::to_owned),
        request_fingerprint: fingerprint.to_owned(),
    }
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
    store.run_published(&id("r1")).await.unwrap();
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
    store.run_published(&id("r1")).await.unwrap();
    assert!(owed(&store).await.is_empty());
    // Publishing twice (the request's try and the relay's) is harmless.
    store.run_published(&id("r1")).await.unwrap();
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
