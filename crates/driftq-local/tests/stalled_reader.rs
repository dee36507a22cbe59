//! A consumer that opens a stream and never reads: the broker's memory stays
//! bounded (the stream may queue at most `--max-stream-buffer-bytes`), the
//! broker closes the stream with a warning naming topic/group/owner, and a new
//! consumer of the group receives every message.
//!
//! A lease of 1 ms makes every 250 ms tick redeliver each in-flight message to
//! the stalled stream (Q23): without the bound that is ~15 MB/s of queued items.

#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);
const PARTITIONS: u64 = 64;
/// Under the 65 536-byte backpressure bound: one such message fits per partition.
const VALUE_BYTES: usize = 60_000;
/// What the broker may grow by while the stalled stream is being cut off.
const MAX_RSS_GROWTH_KB: u64 = 48 * 1024;

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

/// Opens a consume stream over raw TCP and never reads from it.
fn stalled_stream(base: &str) -> TcpStream {
    let addr = base.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).expect("connect");
    let request = format!(
        "GET /v1/consume?topic=s&group=g&owner=stalled&lease_ms=1 HTTP/1.1\r\nHost: {addr}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).expect("send request");
    tcp
}

/// Reads until the broker closes the connection; false if it is still open at the deadline.
fn closed_by_peer(tcp: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    tcp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 16];
    while Instant::now() < deadline {
        match tcp.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
    }
    false
}

#[expect(
    clippy::print_stderr,
    reason = "a skipped test or a measured figure says so in the test output"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_never_reads_is_cut_off_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_driftq-local"));
    command
        .args(["--addr", "127.0.0.1:0", "--wal"])
        .arg(dir.path().join("driftq.wal"));
    let (mut child, base, log) = common::spawn_listening(&mut command, WAIT);
    let http = reqwest::Client::new();
    let create = format!("{base}/v1/topics?name=s&partitions={PARTITIONS}");
    assert_eq!(http.post(create).send().await.unwrap().status(), 201);
    let mut stalled = stalled_stream(&base);
    let value = "v".repeat(VALUE_BYTES);
    for p in 0..PARTITIONS {
        let body = serde_json::json!({"topic": "s", "value": value, "envelope": {"partition_override": p}});
        let resp = http
            .post(format!("{base}/v1/produce"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let baseline = rss_kb(child.id());

    // Sample the broker's memory while it redelivers to the stalled stream, until it is cut off.
    let deadline = Instant::now() + WAIT;
    let mut peak = baseline;
    let mut cut_off = false;
    while Instant::now() < deadline && !cut_off {
        peak = peak.max(rss_kb(child.id()));
        cut_off = log.try_iter().any(|l| {
            l.contains("consume stream is not reading")
                && l.contains("topic=s")
                && l.contains("group=g")
                && l.contains("owner=stalled")
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cut_off, "the broker never cut off the stalled stream");
    // A few more ticks: nothing keeps piling up once it is cut off.
    let settle = Instant::now() + Duration::from_secs(1);
    while Instant::now() < settle {
        peak = peak.max(rss_kb(child.id()));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let growth = peak.saturating_sub(baseline);
    eprintln!("driftq-local RSS: baseline {baseline} KiB, peak {peak} KiB, growth {growth} KiB");
    assert!(growth < MAX_RSS_GROWTH_KB, "RSS grew by {growth} KiB");
    let closed = tokio::task::spawn_blocking(move || closed_by_peer(&mut stalled, WAIT))
        .await
        .unwrap();
    assert!(closed, "the broker kept the stalled connection open");

    // The stalled owner's messages come back after the default lease to a new consumer.
    let mut fresh = common::Consumer::open(
        &http,
        format!("{base}/v1/consume?topic=s&group=g&owner=fresh&lease_ms=30000"),
    );
    let items = fresh.take(PARTITIONS as usize, WAIT).await;
    let partitions: BTreeSet<u64> = items
        .iter()
        .filter_map(|i| i["partition"].as_u64())
        .collect();
    assert_eq!(partitions.len() as u64, PARTITIONS, "every message arrives");
    assert!(
        items
            .iter()
            .all(|i| i["value"].as_str().map(str::len) == Some(VALUE_BYTES))
    );
    fresh.close();
    child.kill().unwrap();
    let _ = child.wait();
}
