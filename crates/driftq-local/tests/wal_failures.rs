//! WAL failures through the real binary: a write that fails after start-up
//! (the file-size limit makes `write` fail with EFBIG, which works even as
//! root, unlike permissions) is answered with a clear 400, health says
//! `degraded`, and the next write that fits recovers, with no panic; an
//! unusable WAL path or a corrupt middle line stop start-up with exit status 1
//! and a message naming the problem. `disk_full.rs` fills a real file system.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// Runs the binary to completion (it must exit by itself); returns (status, stderr).
fn run_to_exit(wal: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_driftq-local"))
        .args(["--addr", "127.0.0.1:0", "--wal"])
        .arg(wal)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the broker did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    (status.code(), stderr)
}

#[test]
fn a_wal_path_under_a_regular_file_exits_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let (code, stderr) = run_to_exit(&file.join("driftq.wal"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("Not a directory"), "{stderr}");
}

#[test]
fn a_directory_as_wal_exits_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = run_to_exit(dir.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("Is a directory"), "{stderr}");
}

#[test]
fn a_corrupt_middle_line_exits_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("driftq.wal");
    let commit = r#"{"kind":"commit","topic":"t","group":"g","partition":0,"offset":0}"#;
    std::fs::write(&wal, format!("{commit}\nnot json\n{commit}\n")).unwrap();
    let (code, stderr) = run_to_exit(&wal);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("line 2 is corrupt"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[cfg(target_os = "linux")]
mod write_failure {
    use std::process::Command;

    use super::{WAIT, common};

    #[tokio::test]
    async fn a_failed_append_is_a_400_then_the_next_write_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("driftq.wal");
        // `ulimit -f 4`: the WAL may grow to 2 KiB; an ignored SIGXFSZ survives
        // exec, so the oversized write fails with EFBIG instead of killing us.
        let script = r#"trap '' XFSZ; ulimit -f 4; exec "$0" --addr 127.0.0.1:0 --wal "$1""#;
        let mut command = Command::new("sh");
        command
            .args(["-c", script, env!("CARGO_BIN_EXE_driftq-local")])
            .arg(&wal);
        let (mut child, base, rx) = common::spawn_listening(&mut command, WAIT);
        let http = reqwest::Client::new();
        assert_eq!(post(&http, format!("{base}/v1/topics?name=t")).await.0, 201);
        let small = format!("{base}/v1/produce?topic=t&value=small");
        assert_eq!(post(&http, small.clone()).await.0, 200);
        let big = "x".repeat(4096);
        let (status, body) = post(&http, format!("{base}/v1/produce?topic=t&value={big}")).await;
        assert_eq!(status, 400, "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("File too large"), "{message}");
        let health = get(&http, format!("{base}/v1/healthz")).await;
        assert_eq!(health["status"], "degraded", "{health}");
        // The next write is the retry: the half-written line was cut off, so it fits.
        assert_eq!(post(&http, small).await.0, 200);
        let health = get(&http, format!("{base}/v1/healthz")).await;
        assert_eq!(health, serde_json::json!({"status": "ok"}));
        // Only the acknowledged messages are delivered; the failed one never is.
        let mut consumer = common::Consumer::open(
            &http,
            format!("{base}/v1/consume?topic=t&group=g&owner=o&lease_ms=30000"),
        );
        let items = consumer.take(2, WAIT).await;
        assert!(items.iter().all(|i| i["value"] == "small"), "{items:?}");
        assert_eq!(
            consumer.next(std::time::Duration::from_millis(300)).await,
            None
        );
        consumer.close();
        assert!(
            child.try_wait().unwrap().is_none(),
            "the broker is still running"
        );
        child.kill().unwrap();
        let _ = child.wait();
        // The reader thread ends at EOF, which the kill brings.
        let log: Vec<String> = rx.iter().collect();
        assert!(
            log.iter().any(|l| l.contains("wal append failed")),
            "{log:?}"
        );
        assert!(log.iter().any(|l| l.contains("recovered")), "{log:?}");
        assert!(!log.iter().any(|l| l.contains("panicked")), "{log:?}");
        // What the log holds replays: both small messages, nothing torn.
        let text = std::fs::read_to_string(&wal).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
    }

    pub(super) async fn post(http: &reqwest::Client, url: String) -> (u16, serde_json::Value) {
        let resp = http.post(url).send().await.expect("answered, not dropped");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or_default())
    }

    pub(super) async fn get(http: &reqwest::Client, url: String) -> serde_json::Value {
        let resp = http.get(url).send().await.expect("answered");
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap_or_default()
    }
}
