//! The whole system for end-to-end tests: driftq-local and the API in-process, workers as
//! real `sidefx-worker` processes restarted when they exit (as a supervisor would).

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clap::Parser;
use driftq_client::Client;
use serde::Deserialize;
use sidefx_core::{Artifacts, EffectRow, EffectStatus, RunId, RunRow, RunStatus, Store};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// One `sidefx-worker` process; killed (by PID, through `Child`) when dropped, so a failing
/// test leaves nothing behind.
#[derive(Debug)]
pub struct WorkerProcess {
    child: Child,
}

impl WorkerProcess {
    /// Takes ownership of a started worker.
    pub fn new(child: Child) -> Self {
        WorkerProcess { child }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Broker + API + workers over one temp dir. Everything stops when dropped.
#[derive(Debug)]
pub struct Stack {
    pub dir: TempDir,
    pub broker_url: String,
    pub api_url: String,
    pub client: Client,
    pub http: reqwest::Client,
    pub store: Store,
    pub artifacts: Artifacts,
    workers: Vec<Option<WorkerProcess>>,
    starts: usize,
    /// Exit codes of worker processes that ended (and were restarted).
    pub exits: Vec<Option<i32>>,
    _broker: driftq_local::Broker,
    _api_stop: oneshot::Sender<()>,
}

/// `POST /runs` answer.
#[derive(Debug, Deserialize)]
pub struct Created {
    pub run_id: RunId,
}

impl Stack {
    /// Starts the broker, the API and `workers` worker processes.
    pub async fn start(workers: usize) -> Stack {
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = super::broker(dir.path()).await;
        let broker_url = broker.base_url();
        let (db, artifacts_dir) = (
            dir.path().join("sidefx.sqlite"),
            dir.path().join("artifacts"),
        );
        let (api_url, api_stop) = start_api(&broker_url, &db, &artifacts_dir).await;
        let mut stack = Stack {
            client: Client::new(&broker_url).expect("client"),
            http: reqwest::Client::new(),
            store: Store::open(&db).await.expect("store"),
            artifacts: Artifacts::new(artifacts_dir),
            broker_url,
            api_url,
            dir,
            workers: Vec::new(),
            starts: 0,
            exits: Vec::new(),
            _broker: broker,
            _api_stop: api_stop,
        };
        for _ in 0..workers {
            let worker = stack.spawn_worker();
            stack.workers.push(Some(worker));
        }
        stack
    }

    /// The worker binary wired to this stack's broker, store and artifacts, with a clean
    /// environment for the variables tests care about; callers add their own and stderr.
    pub fn worker_command(&self) -> Command {
        let artifacts = self.artifacts.tickets_dir();
        let mut command = Command::new(env!("CARGO_BIN_EXE_sidefx-worker"));
        command
            .env("DRIFTQ_HTTP_URL", &self.broker_url)
            .env("SIDEFX_DB_PATH", self.store.path())
            .env("ARTIFACTS_DIR", artifacts.parent().expect("artifacts dir"))
            .env("LOG_LEVEL", "info")
            .env_remove("DRIFTQ_OWNER")
            .env_remove("WORKER_GROUP")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        command
    }

    fn spawn_worker(&mut self) -> WorkerProcess {
        self.starts += 1;
        let log = self.log_path(self.starts);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = self
            .worker_command()
            .env("WORKER_LEASE_MS", "1000")
            .env("WORKER_RETRY_BASE_MS", "50")
            .env("WORKER_RETRY_MAX_MS", "200")
            .stderr(Stdio::from(log))
            .spawn()
            .expect("sidefx-worker starts");
        WorkerProcess { child }
    }

    /// Waits until every worker process has opened its commands stream, so deliveries are
    /// spread over all of them from the first run on.
    pub async fn wait_workers_ready(&self, timeout: Duration) {
        let workers = self.workers.len();
        super::poll("workers to open their streams", timeout, || async {
            let ready = (1..=self.starts)
                .filter(|n| {
                    let log = std::fs::read_to_string(self.log_path(*n)).unwrap_or_default();
                    log.lines()
                        .any(|l| l.contains("opening stream") && l.contains("sidefx.commands"))
                })
                .count();
            (ready >= workers).then_some(())
        })
        .await;
    }

    /// Log file of the n-th worker process started (1-based).
    pub fn log_path(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("worker-{n}.log"))
    }

    /// Restarts every worker process that exited, recording its exit code.
    pub fn supervise(&mut self) {
        for slot in 0..self.workers.len() {
            let exited = match self.workers[slot].as_mut().map(|w| w.child.try_wait()) {
                Some(Ok(Some(status))) => Some(status.code()),
                _ => None,
            };
            if let Some(code) = exited {
                self.exits.push(code);
                self.workers[slot] = None;
                let worker = self.spawn_worker();
                self.workers[slot] = Some(worker);
            }
        }
    }

    /// PID of the worker in `slot`.
    pub fn worker_pid(&self, slot: usize) -> u32 {
        self.workers[slot]
            .as_ref()
            .expect("worker running")
            .child
            .id()
    }

    /// Waits (supervising) for the worker in `slot` to exit, without restarting it.
    pub async fn wait_worker_exit(&mut self, slot: usize, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let worker = self.workers[slot].as_mut().expect("worker running");
            if let Some(status) = worker.child.try_wait().expect("try_wait") {
                self.workers[slot] = None;
                return status.code();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "worker did not exit within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `POST /runs` with `body`, optionally with an `Idempotency-Key`.
    pub async fn post_run(&self, body: serde_json::Value, idempotency_key: Option<&str>) -> RunId {
        let mut request = self.http.post(format!("{}/runs", self.api_url)).json(&body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.expect("POST /runs");
        let status = response.status();
        let text = response.text().await.expect("body");
        assert!(status.is_success(), "POST /runs: {status} {text}");
        serde_json::from_str::<Created>(&text)
            .expect("run id")
            .run_id
    }

    /// Waits, supervising workers, until the run reaches `status`.
    pub async fn wait_status(
        &mut self,
        run: &RunId,
        status: RunStatus,
        timeout: Duration,
    ) -> RunRow {
        let store = self.store.clone();
        let what = format!("run {run} to be {status:?}");
        super::poll(&what, timeout, || {
            self.supervise();
            let (store, run) = (store.clone(), run.clone());
            async move {
                store
                    .get_run(&run)
                    .await
                    .expect("get_run")
                    .filter(|r| r.status == status)
            }
        })
        .await
    }

    /// The run's effect rows.
    pub async fn effects(&self, run: &RunId) -> Vec<EffectRow> {
        self.store
            .effects_for_run(run)
            .await
            .expect("effects_for_run")
    }

    /// Asserts the exactly-once invariant for a completed run: one done row, its ticket.
    pub async fn assert_effect_once(&self, run: &RunId) {
        let effects = self.effects(run).await;
        assert_eq!(effects.len(), 1, "one effect row: {effects:?}");
        assert_eq!(effects[0].status, EffectStatus::Done, "{effects:?}");
        let key = &effects[0].business_key;
        assert!(
            self.artifacts
                .ticket_exists(key)
                .await
                .expect("ticket_exists"),
            "ticket of {key}"
        );
    }

    /// Number of ticket files.
    pub async fn ticket_count(&self) -> usize {
        self.artifacts
            .list_tickets(100_000)
            .await
            .expect("list_tickets")
            .len()
    }

    /// All worker logs, for failure messages.
    pub fn logs(&self) -> String {
        (1..=self.starts)
            .map(|n| std::fs::read_to_string(self.log_path(n)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n----\n")
    }
}

/// Serves the API in-process on 127.0.0.1:0, sharing the store and artifacts dir.
async fn start_api(broker_url: &str, db: &Path, artifacts: &Path) -> (String, oneshot::Sender<()>) {
    let config = sidefx_api::ApiConfig::try_parse_from([
        "sidefx-api",
        "--api-addr",
        "127.0.0.1:0",
        "--driftq-http-url",
        broker_url,
        "--db-path",
        db.to_str().expect("utf-8 path"),
        "--artifacts-dir",
        artifacts.to_str().expect("utf-8 path"),
    ])
    .expect("api config");
    let state = sidefx_api::AppState::from_config(&config)
        .await
        .expect("api state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(sidefx_api::serve(listener, state, async {
        let _ = stopped.await;
    }));
    (url, stop)
}
