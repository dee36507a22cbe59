//! A reader that stops early (`sidefx logs | head -1`) must not make `sidefx` panic: the
//! test reads one line of a long output, closes the pipe, and checks how `sidefx` ended.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SIDEFX: &str = env!("CARGO_BIN_EXE_sidefx");

#[test]
fn a_closed_stdout_ends_sidefx_quietly() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Far more than a pipe buffer holds, so `sidefx` is still writing when the pipe closes.
    let log: String = (0..20_000)
        .map(|i| format!("2025-01-01T00:00:00Z  INFO worker line {i}\n"))
        .collect();
    std::fs::write(dir.path().join("worker.log"), log).expect("write the log");
    let mut child = Command::new(SIDEFX)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["logs", "worker"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sidefx");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("read one line");
    assert!(first.contains("worker line 0"), "{first:?}");
    drop(stdout); // what `head -1` does after its line

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "sidefx kept running");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(0), "{status}: {stderr}");
}
