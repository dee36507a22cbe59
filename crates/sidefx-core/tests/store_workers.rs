//! The worker registry (`Store::record_worker`, `worker_stopped`, `list_workers`): a row per
//! process, refreshed by its beats, most recently seen first, stopped rows never revived, and
//! rows not seen for a day deleted by the next beat.

use sidefx_core::store::WORKER_RETENTION;
use sidefx_core::{Store, WorkerBeat};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// A fixed "now", so the test does not depend on the wall clock.
const NOW: i64 = 1_700_000_000_000;

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("workers.sqlite"))
        .await
        .unwrap();
    (dir, store)
}

fn beat(owner: &str, seen_ms: i64, steps_in_hand: u32) -> WorkerBeat {
    WorkerBeat {
        owner: owner.to_owned(),
        host: "host-a".to_owned(),
        pid: 4242,
        version: "1.2.3".to_owned(),
        effect: "ticket".to_owned(),
        heartbeat_ms: 2000,
        started_ms: NOW - 60_000,
        seen_ms,
        steps_in_hand,
    }
}

fn owners(rows: &[sidefx_core::WorkerRow]) -> Vec<&str> {
    rows.iter().map(|r| r.owner.as_str()).collect()
}

#[tokio::test]
async fn a_beat_inserts_then_refreshes_the_row() {
    let (_dir, store) = store().await;
    store
        .record_worker(beat("w1", NOW - 4000, 0))
        .await
        .unwrap();
    store
        .record_worker(beat("w1", NOW - 2000, 5))
        .await
        .unwrap();
    let rows = store.list_workers(NOW, 10).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(
        (row.last_seen_ms, row.steps_in_hand, row.started_ms),
        (NOW - 2000, 5, NOW - 60_000)
    );
    assert_eq!((row.host.as_str(), row.pid), ("host-a", 4242));
    assert_eq!(
        (row.version.as_str(), row.effect.as_str()),
        ("1.2.3", "ticket")
    );
    assert_eq!(row.stopped_ms, None);
    assert!(row.alive_at(NOW));
    assert!(!row.alive_at(NOW + 5000), "three beats missed");
}

#[tokio::test]
async fn workers_are_listed_most_recently_seen_first_up_to_the_limit() {
    let (_dir, store) = store().await;
    store
        .record_worker(beat("old", NOW - 9000, 0))
        .await
        .unwrap();
    store
        .record_worker(beat("new", NOW - 1000, 0))
        .await
        .unwrap();
    store
        .record_worker(beat("mid", NOW - 5000, 0))
        .await
        .unwrap();
    let rows = store.list_workers(NOW, 10).await.unwrap();
    assert_eq!(owners(&rows), ["new", "mid", "old"]);
    let rows = store.list_workers(NOW, 2).await.unwrap();
    assert_eq!(owners(&rows), ["new", "mid"]);
}

#[tokio::test]
async fn a_stopped_worker_stays_stopped() {
    let (_dir, store) = store().await;
    store
        .record_worker(beat("w1", NOW - 3000, 2))
        .await
        .unwrap();
    assert!(store.worker_stopped("w1", NOW - 1000).await.unwrap());
    assert!(
        !store.worker_stopped("w1", NOW).await.unwrap(),
        "stopped once"
    );
    assert!(!store.worker_stopped("nobody", NOW).await.unwrap());
    // A beat that was in flight when the process stopped must not make it look alive.
    store.record_worker(beat("w1", NOW - 500, 7)).await.unwrap();
    let row = &store.list_workers(NOW, 10).await.unwrap()[0];
    assert_eq!(
        (row.stopped_ms, row.last_seen_ms, row.steps_in_hand),
        (Some(NOW - 1000), NOW - 1000, 0)
    );
    assert!(!row.alive_at(NOW - 1000));
}

#[tokio::test]
async fn rows_not_seen_for_a_day_are_deleted_by_the_next_beat() {
    let (_dir, store) = store().await;
    assert_eq!(WORKER_RETENTION.as_millis(), DAY_MS as u128);
    store
        .record_worker(beat("gone", NOW - DAY_MS - 1, 0))
        .await
        .unwrap();
    store
        .record_worker(beat("edge", NOW - DAY_MS, 0))
        .await
        .unwrap();
    // Listing hides what is past the retention even before anyone deleted it.
    assert_eq!(
        owners(&store.list_workers(NOW, 10).await.unwrap()),
        ["edge"]
    );
    assert_eq!(
        owners(&store.list_workers(NOW - 1, 10).await.unwrap()),
        ["edge", "gone"]
    );
    let forgotten = store.record_worker(beat("now", NOW, 0)).await.unwrap();
    assert_eq!(forgotten, 1, "only the row past the retention");
    assert_eq!(
        owners(&store.list_workers(NOW - 1, 10).await.unwrap()),
        ["now", "edge"],
        "the old row is gone, not hidden"
    );
}

#[tokio::test]
async fn a_version_7_store_gains_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    drop(Store::open(&path).await.unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TABLE workers; PRAGMA user_version = 7;")
        .unwrap();
    drop(conn);
    let store = Store::open(&path).await.unwrap();
    store.record_worker(beat("w1", NOW, 1)).await.unwrap();
    assert_eq!(store.list_workers(NOW, 10).await.unwrap().len(), 1);
}
