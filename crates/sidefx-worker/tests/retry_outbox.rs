//! The retry publisher: a due outbox row is published to `sidefx.commands` and deleted; a
//! row that is not due yet stays.

mod common;

use std::sync::Arc;
use std::time::Duration;

use driftq_client::Client;
use sidefx_core::{COMMANDS_TOPIC, Command, NewRetry, Publisher, Store, now_ms};
use sidefx_testkit::{poll_until, spawn_broker};
use sidefx_worker::retry_outbox;
use tokio::sync::{Notify, watch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_retries_are_published_once_and_deleted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = spawn_broker(dir.path()).await;
    let client = Client::new(&broker.base_url()).expect("client");
    let store = Store::open(&dir.path().join("db.sqlite"))
        .await
        .expect("store");
    let due = common::command("outbox-due").next_attempt(now_ms());
    let later = common::command("outbox-later").next_attempt(now_ms());
    let in_an_hour = now_ms() + 3_600_000;
    store
        .schedule_retry(NewRetry::for_command(&due, now_ms()).expect("row"))
        .await
        .expect("schedule");
    store
        .schedule_retry(NewRetry::for_command(&later, in_an_hour).expect("row"))
        .await
        .expect("schedule");

    let (stop_tx, stop) = watch::channel(false);
    let wakeup = Arc::new(Notify::new());
    let publisher = Publisher::new(client.clone());
    // Consuming needs the topic; the publisher only creates topics when a produce finds one
    // missing, which may happen after the reader below has looked.
    publisher
        .ensure_topic(COMMANDS_TOPIC)
        .await
        .expect("commands topic");
    let task = tokio::spawn(retry_outbox::run(store.clone(), publisher, wakeup, stop));

    let msg = common::first_message(
        &client,
        COMMANDS_TOPIC,
        "test-reader",
        Duration::from_secs(20),
    )
    .await;
    let Command::Run(published) = serde_json::from_str(&msg.value).expect("a command");
    assert_eq!(published, due);

    poll_until(
        "the published row to be deleted",
        Duration::from_secs(10),
        || async {
            let next = store.next_retry_due_ms().await.expect("next due");
            (next == Some(in_an_hour)).then_some(())
        },
    )
    .await;
    stop_tx.send(true).expect("stop");
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops on shutdown")
        .expect("no panic");
}
