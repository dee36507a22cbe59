//! Restart durability in-process (§3.13) and WAL start-up errors.

mod common;

use std::io::Write;
use std::time::Duration;

use driftq_local::BrokerConfig;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(3);

#[tokio::test]
async fn restart_keeps_messages_commits_and_retry_state() {
    let b = common::start().await;
    b.create("d", 4).await;
    b.create("empty", 1).await;
    b.produce("topic=d&value=a").await;
    b.produce("topic=d&value=b").await;
    b.produce("topic=d&value=c").await;
    b.produce("topic=d&value=k&key=k1&idempotency_key=i1").await;
    let mut c = b.consume("topic=d&group=g&owner=o&lease_ms=10000");
    c.take(3, WAIT).await;
    b.post("/v1/nack?topic=d&group=g&owner=o&partition=0&offset=0&reason=boom")
        .await;
    b.post("/v1/ack?topic=d&group=g&owner=o&partition=0&offset=1")
        .await;
    c.close();

    let b = b.restart().await;
    let (_, topics) = b.get("/v1/topics").await;
    assert_eq!(topics, json!({"topics":["d"]}), "empty topics vanish (Q2)");
    let (status, _) = b.produce("topic=d&value=x&partition_override=3").await;
    assert_eq!(
        status, 400,
        "partition count shrank to highest used + 1 (Q2)"
    );
    let (status, _) = b
        .produce("topic=d&value=again&key=k1&idempotency_key=i1")
        .await;
    assert_eq!(status, 200);
    let mut c = b.consume("topic=d&group=g&owner=o&lease_ms=10000");
    let items = c.take(2, WAIT).await;
    // Offset 0 (nacked, below the committed offset 1) is lost for the group (Q1).
    assert_eq!(items[0]["offset"], 2);
    assert_eq!(items[1]["offset"], 3);
    assert!(
        c.next(Duration::from_millis(300)).await.is_none(),
        "deduped after restart"
    );
    c.close();
}

#[tokio::test]
async fn corrupt_middle_line_fails_start_but_torn_tail_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("w.wal");
    std::fs::write(&wal, "not json\n{}\n").unwrap();
    let err = driftq_local::spawn(BrokerConfig::ephemeral(&wal))
        .await
        .err();
    assert!(err.is_some_and(|e| e.to_string().contains("line 1")));

    let b = common::start().await;
    b.create("t", 1).await;
    b.produce("topic=t&value=kept").await;
    let wal = b.wal.clone();
    let b = {
        let common::TestBroker {
            broker, dir, http, ..
        } = b;
        broker.shutdown().await;
        let mut f = std::fs::OpenOptions::new().append(true).open(&wal).unwrap();
        f.write_all(b"{\"kind\":\"mess").unwrap();
        let broker = driftq_local::spawn(BrokerConfig::ephemeral(&wal))
            .await
            .expect("torn tail tolerated");
        let base = broker.base_url();
        common::TestBroker {
            broker,
            base,
            wal: wal.clone(),
            dir,
            http,
        }
    };
    b.produce("topic=t&value=after").await;
    let mut c = b.consume("topic=t&group=g&owner=o");
    let items = c.take(2, WAIT).await;
    assert_eq!(
        (items[0]["value"].clone(), items[1]["value"].clone()),
        (json!("kept"), json!("after"))
    );
    c.close();
}

#[tokio::test]
async fn unwritable_wal_is_a_start_error() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("missing-dir").join("w.wal");
    assert!(
        driftq_local::spawn(BrokerConfig::ephemeral(&wal))
            .await
            .is_err()
    );
}
