//! The real binary is killed with SIGKILL mid-stream and restarted on the same
//! WAL: committed offsets hold, unacked messages come back with attempts 1 and
//! their persisted last_error.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::json;

const WAIT: Duration = Duration::from_secs(5);

/// Starts the binary on port 0 and reads the bound address from its log.
fn start_binary(wal: &Path) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_driftq-local"));
    command.args(["--addr", "127.0.0.1:0", "--wal"]).arg(wal);
    let (child, base, _log) = common::spawn_listening(&mut command, WAIT);
    (child, base)
}

async fn post(http: &reqwest::Client, url: String) -> u16 {
    http.post(url)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn sigkill_mid_stream_then_restart() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("driftq.wal");
    let http = reqwest::Client::new();

    let (mut child, base) = start_binary(&wal);
    assert_eq!(
        post(&http, format!("{base}/v1/topics?name=k&partitions=1")).await,
        201
    );
    for v in ["a", "b", "c"] {
        assert_eq!(
            post(&http, format!("{base}/v1/produce?topic=k&value={v}")).await,
            200
        );
    }
    let mut c = common::Consumer::open(
        &http,
        format!("{base}/v1/consume?topic=k&group=g&owner=o&lease_ms=10000"),
    );
    let items = c.take(2, WAIT).await;
    assert_eq!(
        (items[0]["value"].clone(), items[1]["value"].clone()),
        (json!("a"), json!("b"))
    );
    assert_eq!(
        post(
            &http,
            format!("{base}/v1/ack?topic=k&group=g&owner=o&partition=0&offset=0")
        )
        .await,
        204
    );
    let nack = format!("{base}/v1/nack?topic=k&group=g&owner=o&partition=0&offset=1&reason=boom");
    assert_eq!(post(&http, nack).await, 204);
    // b comes straight back (attempts 2) and c gets the slot a freed.
    c.take(2, WAIT).await;

    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    c.close();

    let (mut child, base) = start_binary(&wal);
    let mut c = common::Consumer::open(
        &http,
        format!("{base}/v1/consume?topic=k&group=g&owner=o&lease_ms=10000"),
    );
    let items = c.take(2, WAIT).await;
    let seen: Vec<_> = items
        .iter()
        .map(|i| {
            (
                i["offset"].clone(),
                i["value"].clone(),
                i["attempts"].clone(),
                i["last_error"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (json!(1), json!("b"), json!(1), json!("boom")),
            (json!(2), json!("c"), json!(1), json!("")),
        ],
        "offset 0 stays committed; unacked messages return with attempts 1"
    );
    c.close();
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
}
