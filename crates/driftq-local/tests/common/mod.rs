//! Shared helpers for the integration tests: an in-process broker on port 0
//! with a temp WAL, a reqwest client, and an NDJSON stream reader that polls
//! with deadlines.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use driftq_local::{Broker, BrokerConfig};
use futures::StreamExt;
use serde_json::Value;
use sidefx_testkit::poll_until;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A broker plus the temp dir holding its WAL.
pub struct TestBroker {
    pub broker: Broker,
    pub base: String,
    pub wal: PathBuf,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

pub async fn start() -> TestBroker {
    start_with(|_| {}).await
}

pub async fn start_with(tweak: impl FnOnce(&mut BrokerConfig)) -> TestBroker {
    let dir = tempfile::tempdir().expect("temp dir");
    let wal = dir.path().join("driftq.wal");
    let mut config = BrokerConfig::ephemeral(&wal);
    tweak(&mut config);
    let broker = driftq_local::spawn(config).await.expect("broker starts");
    let base = broker.base_url();
    TestBroker {
        broker,
        base,
        wal,
        dir,
        http: reqwest::Client::new(),
    }
}

impl TestBroker {
    /// Stops this broker and starts a new one on the same WAL.
    pub async fn restart(self) -> TestBroker {
        let TestBroker {
            broker,
            wal,
            dir,
            http,
            ..
        } = self;
        broker.shutdown().await;
        let broker = driftq_local::spawn(BrokerConfig::ephemeral(&wal))
            .await
            .expect("restart");
        let base = broker.base_url();
        TestBroker {
            broker,
            base,
            wal,
            dir,
            http,
        }
    }

    pub async fn post(&self, path_and_query: &str) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path_and_query}", self.base))
            .send()
            .await
            .expect("post");
        status_json(resp).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("post");
        status_json(resp).await
    }

    pub async fn get(&self, path_and_query: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .await
            .expect("get");
        status_json(resp).await
    }

    pub async fn create(&self, topic: &str, partitions: u32) {
        let (status, _) = self
            .post(&format!("/v1/topics?name={topic}&partitions={partitions}"))
            .await;
        assert_eq!(status, 201);
    }

    pub async fn produce(&self, query: &str) -> (u16, Value) {
        self.post(&format!("/v1/produce?{query}")).await
    }

    /// Waits until `/metrics` reports `n` open streams for `topic`/`group`: a stream counts
    /// for dispatch (round-robin order included) only once the broker registered it.
    pub async fn wait_open_streams(&self, topic: &str, group: &str, n: usize, within: Duration) {
        let line = format!("driftq_local_open_streams{{topic=\"{topic}\",group=\"{group}\"}} {n}");
        poll_until(&format!("`{line}` in /metrics"), within, || async {
            let resp = self.http.get(format!("{}/metrics", self.base)).send().await;
            let text = match resp {
                Ok(resp) => resp.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            text.contains(&line).then_some(())
        })
        .await;
    }

    pub fn consume(&self, query: &str) -> Consumer {
        Consumer::open(&self.http, format!("{}/v1/consume?{query}", self.base))
    }
}

pub async fn status_json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// An open NDJSON stream; items arrive on a channel so reads can have deadlines.
pub struct Consumer {
    rx: mpsc::UnboundedReceiver<Value>,
    task: JoinHandle<()>,
}

impl Consumer {
    pub fn open(http: &reqwest::Client, url: String) -> Consumer {
        Consumer::open_url(http.clone(), url)
    }

    pub fn open_url(http: reqwest::Client, url: String) -> Consumer {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let Ok(resp) = http.get(url).send().await else {
                return;
            };
            let mut body = resp.bytes_stream();
            let mut buf = Vec::new();
            while let Some(Ok(chunk)) = body.next().await {
                buf.extend_from_slice(&chunk);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&line)
                        && tx.send(v).is_err()
                    {
                        return;
                    }
                }
            }
        });
        Consumer { rx, task }
    }

    /// The next item, or None when nothing arrives within `within`.
    pub async fn next(&mut self, within: Duration) -> Option<Value> {
        tokio::time::timeout(within, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Exactly `n` items, each within `within`; panics otherwise.
    pub async fn take(&mut self, n: usize, within: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        for i in 0..n {
            let item = self.next(within).await;
            out.push(item.unwrap_or_else(|| panic!("item {i} of {n} did not arrive")));
        }
        out.sort_by_key(|v| {
            (
                v["partition"].as_u64(),
                v["offset"].as_u64(),
                v["attempts"].as_u64(),
            )
        });
        out
    }

    /// Closes the connection.
    pub fn close(self) {
        self.task.abort();
    }
}

/// Spawns `command` (the `driftq-local` binary with `--addr 127.0.0.1:0`) with its stderr
/// piped, waits up to `within` for its "listening" log line, and returns the process, its
/// base URL and the log lines that follow (the channel ends when the process exits; a
/// thread keeps reading so the pipe never fills).
pub fn spawn_listening(
    command: &mut std::process::Command,
    within: Duration,
) -> (
    std::process::Child,
    String,
    std::sync::mpsc::Receiver<String>,
) {
    use std::io::{BufRead, BufReader};
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("driftq-local starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("driftq-local logged no listening line within {within:?}");
        };
        if let Some(rest) = line.split("listening addr=").nth(1) {
            let addr = rest.split_whitespace().next().unwrap_or_default();
            return (child, format!("http://{addr}"), rx);
        }
    }
}
