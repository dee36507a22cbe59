//! Test harness: a real `driftq-local` broker and the API served on 127.0.0.1:0 with a temp
//! dir store, plus helpers to read topics and SSE streams with deadlines.

#![allow(dead_code)] // each test binary uses a different subset

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use clap::Parser;
use driftq_client::{ConsumeRequest, Message};
use driftq_local::{Broker, BrokerConfig};
use futures::StreamExt;
use sidefx_api::{ApiConfig, AppState};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Upper bound for anything a test waits for.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A broker on an ephemeral port with its WAL in `dir`.
pub async fn spawn_broker(dir: &Path) -> Broker {
    driftq_local::spawn(BrokerConfig::ephemeral(dir.join("driftq.wal")))
        .await
        .expect("broker starts")
}

/// The API configuration for `broker_url` with store and artifacts under `dir`, with the
/// chaos switches on (the tests send them).
pub fn api_config(broker_url: &str, dir: &Path) -> ApiConfig {
    let db = dir.join("side_effects.sqlite");
    let artifacts = dir.join("artifacts");
    let args: [&std::ffi::OsStr; 12] = [
        "sidefx-api".as_ref(),
        "--api-addr".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--driftq-http-url".as_ref(),
        broker_url.as_ref(),
        "--db-path".as_ref(),
        db.as_os_str(),
        "--artifacts-dir".as_ref(),
        artifacts.as_os_str(),
        "--allow-origins".as_ref(),
        "http://localhost:3000".as_ref(),
        "--chaos".as_ref(),
    ];
    ApiConfig::try_parse_from(args).expect("valid test config")
}

/// A running API server; `stop` shuts it down gracefully.
pub struct ApiServer {
    pub base_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl ApiServer {
    /// Builds the state from `config` and serves it on an ephemeral port.
    pub async fn start(config: &ApiConfig) -> ApiServer {
        let state = AppState::from_config(config).await.expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(sidefx_api::serve(listener, state, async {
            let _ = rx.await;
        }));
        ApiServer {
            base_url,
            shutdown: Some(tx),
            task,
        }
    }

    /// Graceful shutdown; panics if the server does not stop within the deadline (open SSE
    /// streams must not keep it alive).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let result = tokio::time::timeout(DEADLINE, &mut self.task).await;
        let served = result.expect("server stops in time").expect("server task");
        served.expect("server ran without I/O errors");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

/// Broker + API + temp dir, the usual black-box setup.
pub struct TestApp {
    pub dir: TempDir,
    /// `None` once a test stopped it.
    pub broker: Option<Broker>,
    pub broker_url: String,
    pub config: ApiConfig,
    pub api: ApiServer,
    pub http: reqwest::Client,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Like [`TestApp::spawn`], with `configure` applied to the API's configuration.
    pub async fn spawn_with(configure: impl FnOnce(&mut ApiConfig)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = spawn_broker(dir.path()).await;
        let broker_url = broker.base_url();
        let mut config = api_config(&broker_url, dir.path());
        configure(&mut config);
        let api = ApiServer::start(&config).await;
        let broker = Some(broker);
        TestApp {
            dir,
            broker,
            broker_url,
            config,
            api,
            http: reqwest::Client::new(),
        }
    }

    /// Shuts the broker down (the API keeps running).
    pub async fn stop_broker(&mut self) {
        if let Some(broker) = self.broker.take() {
            broker.shutdown().await;
        }
    }

    /// Restarts the broker (or starts it again, if a test stopped it) on the same address
    /// with an empty log: a broker that lost or forgot every topic.
    pub async fn restart_broker_empty(&mut self) {
        let addr = self
            .broker_url
            .strip_prefix("http://")
            .expect("an http URL")
            .to_owned();
        self.stop_broker().await;
        let mut config = BrokerConfig::ephemeral(self.dir.path().join("driftq.wal"));
        config.addr = addr.to_string();
        config.reset_wal = true;
        self.broker = Some(driftq_local::spawn(config).await.expect("broker restarts"));
    }

    pub fn url(&self, path: &str) -> String {
        self.api.url(path)
    }

    pub fn driftq(&self) -> driftq_client::Client {
        driftq_client::Client::new(&self.broker_url).expect("client")
    }

    /// `POST /runs` with `body` and an optional `Idempotency-Key`.
    pub async fn post_run(&self, body: &serde_json::Value, key: Option<&str>) -> reqwest::Response {
        let mut request = self.http.post(self.url("/runs")).json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("POST /runs")
    }

    /// `GET path` decoded as JSON, with its status.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.http.get(self.url(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }
}

/// Reads `n` messages of `topic` with a fresh consumer group, acking each (the broker keeps
/// at most 2 unacked per partition); panics at the deadline. Sorted by offset.
pub async fn read_topic(client: &driftq_client::Client, topic: &str, n: usize) -> Vec<Message> {
    let group = format!("test-{}", uuid::Uuid::new_v4().simple());
    read_group(client, topic, &group, n).await
}

/// Like [`read_topic`], for a given group (to continue where an earlier read stopped).
pub async fn read_group(
    client: &driftq_client::Client,
    topic: &str,
    group: &str,
    n: usize,
) -> Vec<Message> {
    let request = ConsumeRequest::new(topic, group, "test-reader").lease(Duration::from_secs(30));
    let mut consumer = client.consume(request);
    let mut messages: Vec<Message> = Vec::new();
    within(async {
        while messages.len() < n {
            match consumer.next().await {
                Some(Ok(message)) => {
                    let target = consumer.request().ack_target(&message);
                    client.ack(&target).await.expect("ack");
                    messages.push(message);
                }
                Some(Err(err)) if err.is_transient() => continue,
                other => panic!("consuming {topic}: {other:?}"),
            }
        }
    })
    .await;
    messages.sort_by_key(|m| m.offset);
    messages
}

/// Every message of `topic`, read up to a sentinel produced now, so "exactly these messages"
/// can be asserted without waiting for something not to happen. Offsets are one counter per
/// topic (PROTOCOL §3.1), so the sentinel's offset says how many messages precede it, across
/// all partitions. Sorted by offset, sentinel excluded.
pub async fn read_all(client: &driftq_client::Client, topic: &str) -> Vec<Message> {
    let sentinel = format!("sentinel-{}", uuid::Uuid::new_v4().simple());
    let produce = driftq_client::ProduceRequest::new(topic, sentinel.clone());
    client.produce(&produce).await.expect("produce sentinel");
    let group = format!("test-{}", uuid::Uuid::new_v4().simple());
    let request = ConsumeRequest::new(topic, group, "test-reader").lease(Duration::from_secs(30));
    let mut consumer = client.consume(request);
    let mut seen = std::collections::BTreeMap::new();
    let mut sentinel_offset = None;
    within(async {
        while sentinel_offset.is_none_or(|offset| seen.len() < offset) {
            match consumer.next().await {
                Some(Ok(message)) => {
                    let target = consumer.request().ack_target(&message);
                    client.ack(&target).await.expect("ack");
                    if message.value == sentinel {
                        sentinel_offset = usize::try_from(message.offset).ok();
                    } else {
                        seen.insert(message.offset, message);
                    }
                }
                Some(Err(err)) if err.is_transient() => continue,
                other => panic!("consuming {topic}: {other:?}"),
            }
        }
    })
    .await;
    seen.into_values().collect()
}

/// The message's value as JSON.
pub fn value(message: &Message) -> serde_json::Value {
    serde_json::from_str(&message.value).expect("message value is JSON")
}

/// The message's producer idempotency key.
pub fn idempotency_key(message: &Message) -> Option<&str> {
    message.envelope.as_ref()?.idempotency_key.as_deref()
}

/// Reads an SSE response frame by frame.
pub struct SseReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    buffer: String,
}

impl SseReader {
    /// Opens `GET /runs/{run_id}/events?client_id=...` and checks the response head.
    pub async fn open(app: &TestApp, run_id: &str, client_id: &str) -> SseReader {
        let url = app.url(&format!("/runs/{run_id}/events?client_id={client_id}"));
        let response = app.http.get(url).send().await.expect("GET events");
        assert_eq!(response.status(), 200, "SSE status");
        let content_type = &response.headers()[reqwest::header::CONTENT_TYPE];
        assert!(
            content_type
                .to_str()
                .is_ok_and(|t| t.starts_with("text/event-stream"))
        );
        SseReader {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// Opens the stream with `Last-Event-ID: last` and no `client_id`.
    pub async fn open_after(app: &TestApp, run_id: &str, last: i64) -> SseReader {
        let url = app.url(&format!("/runs/{run_id}/events"));
        let request = app.http.get(url).header("Last-Event-ID", last.to_string());
        let response = request.send().await.expect("GET events");
        assert_eq!(response.status(), 200, "SSE status");
        SseReader {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// Every frame until the server ends the stream: `(id, event, data)`, keep-alive
    /// comments skipped; deadline applies.
    pub async fn frames_to_end(mut self) -> Vec<SseFrame> {
        let mut frames = Vec::new();
        within(async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let text: String = self.buffer.drain(..end + 2).collect();
                    frames.extend(SseFrame::parse(&text));
                    continue;
                }
                match self.body.next().await {
                    Some(Ok(chunk)) => self
                        .buffer
                        .push_str(std::str::from_utf8(&chunk).expect("utf-8")),
                    _ => break,
                }
            }
        })
        .await;
        frames
    }

    /// The next `n` `data:` payloads as JSON (keep-alive comments skipped); deadline applies.
    pub async fn next(&mut self, n: usize) -> Vec<serde_json::Value> {
        let mut events = Vec::new();
        within(async {
            while events.len() < n {
                if let Some(end) = self.buffer.find("\n\n") {
                    let frame: String = self.buffer.drain(..end + 2).collect();
                    let data = frame.lines().filter_map(|l| l.strip_prefix("data: "));
                    events.extend(data.map(|d| serde_json::from_str(d).expect("data is JSON")));
                    continue;
                }
                let chunk = self.body.next().await.expect("stream open").expect("chunk");
                self.buffer
                    .push_str(std::str::from_utf8(&chunk).expect("utf-8"));
            }
        })
        .await;
        events
    }

    /// Waits until the server ends the stream (cleanly or by closing the connection).
    pub async fn ended(mut self) {
        within(async { while let Some(Ok(_)) = self.body.next().await {} }).await;
    }
}

/// One SSE frame with data.
#[derive(Debug, Clone)]
pub struct SseFrame {
    /// `id:`, if any.
    pub id: Option<i64>,
    /// `event:`, if any.
    pub event: Option<String>,
    /// `data:` as JSON.
    pub data: serde_json::Value,
}

impl SseFrame {
    fn parse(text: &str) -> Option<SseFrame> {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::to_owned)
        };
        let data = field("data: ")?;
        Some(SseFrame {
            id: field("id: ").map(|id| id.parse().expect("numeric id")),
            event: field("event: "),
            data: serde_json::from_str(&data).expect("data is JSON"),
        })
    }
}

/// Runs `fut`, panicking if it takes longer than [`DEADLINE`].
pub async fn within<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, fut)
        .await
        .expect("deadline exceeded")
}

/// The whole body of an in-process (`oneshot`) response.
pub async fn body_bytes(response: axum::response::Response) -> axum::body::Bytes {
    use http_body_util::BodyExt;
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
}
