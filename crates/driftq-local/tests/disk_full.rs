//! A really full disk: the WAL lives on a small tmpfs, a filler file takes the
//! rest of it. Writes are refused with the I/O error and health says
//! `degraded`; once the filler is gone the next write succeeds, health is `ok`
//! again, and everything acknowledged is delivered and survives a restart.
//!
//! Mounting needs root (CI runs as root); elsewhere the test is skipped with a
//! message saying so.

#![cfg(target_os = "linux")]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

/// A tmpfs mounted on a temp dir for the test's lifetime.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("temp dir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mount -t tmpfs failed although running as root"
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Writes a file until the file system is full.
fn fill(path: &Path) -> PathBuf {
    let filler = path.join("filler");
    let mut file = std::fs::File::create(&filler).expect("filler");
    let chunk = vec![0u8; 4096];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
    filler
}

async fn post(http: &reqwest::Client, url: String) -> (u16, Value) {
    let resp = http.post(url).send().await.expect("answered, not dropped");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

async fn health(http: &reqwest::Client, base: &str) -> Value {
    let resp = http
        .get(format!("{base}/v1/healthz"))
        .send()
        .await
        .expect("health");
    assert_eq!(resp.status(), 200, "health always answers 200");
    resp.json().await.unwrap_or_default()
}

fn broker(wal: &Path) -> (std::process::Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_driftq-local"));
    command.args(["--addr", "127.0.0.1:0", "--wal"]).arg(wal);
    let (child, base, _log) = common::spawn_listening(&mut command, WAIT);
    (child, base)
}

#[expect(
    clippy::print_stderr,
    reason = "a skipped test or a measured figure says so in the test output"
)]
#[tokio::test]
async fn a_full_disk_degrades_and_freeing_space_recovers() {
    if !is_root() {
        eprintln!(
            "SKIPPED a_full_disk_degrades_and_freeing_space_recovers: mounting a tmpfs needs root"
        );
        return;
    }
    let fs = Tmpfs::mount("512k");
    let wal = fs.path().join("driftq.wal");
    let (mut child, base) = broker(&wal);
    let http = reqwest::Client::new();
    assert_eq!(post(&http, format!("{base}/v1/topics?name=t")).await.0, 201);
    let produce = |v: &str| format!("{base}/v1/produce?topic=t&value={v}");
    assert_eq!(post(&http, produce("before")).await.0, 200);

    let filler = fill(fs.path());
    // Larger than what is left of the WAL's last page, which tmpfs already allocated.
    let refused = "r".repeat(16 * 1024);
    let (status, body) = post(&http, produce(&refused)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "INVALID_ARGUMENT");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("No space left on device"), "{message}");
    let degraded = health(&http, &base).await;
    assert_eq!(degraded["status"], "degraded", "{degraded}");
    assert!(
        degraded["wal_error"]
            .as_str()
            .is_some_and(|e| e.contains("No space"))
    );

    std::fs::remove_file(filler).expect("free the space");
    assert_eq!(post(&http, produce("after")).await.0, 200);
    assert_eq!(
        health(&http, &base).await,
        serde_json::json!({"status": "ok"})
    );

    let mut consumer = common::Consumer::open(
        &http,
        format!("{base}/v1/consume?topic=t&group=g&owner=o&lease_ms=30000"),
    );
    let values: Vec<Value> = consumer
        .take(2, WAIT)
        .await
        .into_iter()
        .map(|i| i["value"].clone())
        .collect();
    assert_eq!(values, ["before", "after"]);
    assert_eq!(
        consumer.next(Duration::from_millis(300)).await,
        None,
        "the refused one never comes"
    );
    consumer.close();

    // Everything acknowledged is in the log, and the log replays.
    child.kill().unwrap();
    let _ = child.wait();
    let (mut child, base) = broker(&wal);
    let mut consumer = common::Consumer::open(
        &http,
        format!("{base}/v1/consume?topic=t&group=g2&owner=o&lease_ms=30000"),
    );
    let values: Vec<Value> = consumer
        .take(2, WAIT)
        .await
        .into_iter()
        .map(|i| i["value"].clone())
        .collect();
    assert_eq!(values, ["before", "after"]);
    consumer.close();
    child.kill().unwrap();
    let _ = child.wait();
}
