//! A broker whose disk is full: `POST /runs` gets 503 with `Retry-After` (not 502), and
//! `/healthz` says `ok: false` with `driftq.status: degraded`; both recover once the disk
//! has space. The broker's WAL lives on a small tmpfs, which needs root to mount (CI runs as
//! root); elsewhere the test is skipped with a message saying so.

#![cfg(target_os = "linux")]

mod common;

use std::io::Write;
use std::process::Command;

use common::{ApiServer, api_config};
use driftq_local::BrokerConfig;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
    })
}

/// Unmounts the tmpfs when the test ends, however it ends.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[expect(
    clippy::print_stderr,
    reason = "a skipped test says so in the test output"
)]
#[tokio::test]
async fn a_broker_out_of_disk_is_a_503_and_a_degraded_health() {
    if !is_root() {
        eprintln!(
            "SKIPPED a_broker_out_of_disk_is_a_503_and_a_degraded_health: mounting a tmpfs needs root"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(disk.path())
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "mount -t tmpfs failed although running as root"
    );
    let _unmount = Unmount(disk.path().to_path_buf());
    let broker = driftq_local::spawn(BrokerConfig::ephemeral(disk.path().join("driftq.wal")))
        .await
        .unwrap();
    let api = ApiServer::start(&api_config(&broker.base_url(), dir.path())).await;
    let http = reqwest::Client::new();
    let run = |key: &str| {
        http.post(api.url("/runs"))
            .json(&serde_json::json!({"business_key": key}))
            .send()
    };
    assert_eq!(run("before").await.unwrap().status(), 200);

    let filler = disk.path().join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    while file.write_all(&[0u8; 4096]).is_ok() {}
    drop(file);
    // The first failed WAL write may still fit the log's last page: retry until refused.
    let refused = common::poll_until(|| async {
        let resp = run("during").await.unwrap();
        (resp.status() != 200).then_some(resp)
    })
    .await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "broker_unavailable");
    let health: serde_json::Value = http
        .get(api.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        health,
        serde_json::json!({"ok": false, "status": "degraded", "driftq": {"status": "degraded"}})
    );

    std::fs::remove_file(filler).unwrap();
    assert_eq!(run("after").await.unwrap().status(), 200);
    let health: serde_json::Value = http
        .get(api.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        health,
        serde_json::json!({"ok": true, "status": "ok", "driftq": {"status": "ok"}})
    );
    api.stop().await;
    broker.shutdown().await;
}
