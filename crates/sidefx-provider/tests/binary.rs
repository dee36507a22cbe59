//! The real `sidefx-provider` binary: it logs its bound address, keeps keys and charges
//! across a kill -9 and a restart, stops cleanly on SIGTERM, and refuses bad fault rates at
//! startup.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::{charge, client, db_path};
use sidefx_provider::ChargeReply;

const BIN: &str = env!("CARGO_BIN_EXE_sidefx-provider");

/// Starts the binary on port 0 with `db`; returns it, its base URL and its later log lines.
fn spawn_provider(db: &Path) -> (Child, String, Receiver<String>) {
    let mut child = Command::new(BIN)
        .args(["--addr", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("LOG_LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sidefx-provider starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            panic!("no listening line within 20 s");
        };
        if !line.contains("sidefx-provider listening") {
            continue;
        }
        let addr = line
            .split("addr=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next());
        let addr = addr.expect("addr= on the listening line").to_owned();
        return (child, format!("http://{addr}"), rx);
    }
}

#[tokio::test]
async fn charges_and_keys_survive_a_kill_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(dir.path());
    let request = charge("order-durable", 4200);

    let (mut first, url, _logs) = spawn_provider(&db);
    let reply = client(&url)
        .create_charge("key-durable", &request)
        .await
        .unwrap();
    let ChargeReply::Charged {
        charge: charged,
        replayed: false,
    } = reply
    else {
        panic!("expected a new charge, got {reply:?}");
    };
    first.kill().unwrap(); // SIGKILL: no chance to flush anything
    first.wait().unwrap();

    let (mut second, url, _logs) = spawn_provider(&db);
    let provider = client(&url);
    let reply = provider
        .create_charge("key-durable", &request)
        .await
        .unwrap();
    assert_eq!(
        reply,
        ChargeReply::Charged {
            charge: charged.clone(),
            replayed: true
        }
    );
    assert_eq!(
        provider.list_charges("order-durable").await.unwrap(),
        vec![charged]
    );
    let ledger = provider.ledger().await.unwrap();
    assert_eq!(ledger.total_charges, 1);
    assert_eq!(ledger.requests_per_key["key-durable"], 2);
    second.kill().unwrap();
    second.wait().unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_stops_it_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url, logs) = spawn_provider(&db_path(dir.path()));
    assert_eq!(
        reqwest::get(format!("{url}/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 20 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}");
    // The reader thread may still be forwarding the last lines: wait for them, with a deadline.
    let stopped = std::iter::from_fn(|| logs.recv_timeout(Duration::from_secs(5)).ok())
        .any(|line| line.contains("sidefx-provider stopped"));
    assert!(stopped, "no 'sidefx-provider stopped' line");
}

#[test]
fn a_fault_rate_out_of_range_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(dir.path());
    let flag = Command::new(BIN)
        .args(["--addr", "127.0.0.1:0", "--slow-rate", "1.5", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let env = Command::new(BIN)
        .args(["--addr", "127.0.0.1:0", "--db"])
        .arg(&db)
        .env("PROVIDER_DROP_AFTER_COMMIT_RATE", "-0.2")
        .output()
        .unwrap();
    for (output, name) in [(flag, "--slow-rate"), (env, "--drop-after-commit-rate")] {
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(name) && stderr.contains("between 0 and 1"),
            "{stderr}"
        );
    }
    assert!(!db.exists(), "nothing was opened");
}
