//! The whole system for end-to-end tests: driftq-local, the API and (in provider mode) the
//! payments provider in-process, workers as real `sidefx-worker` processes restarted when they
//! exit (as a supervisor would). Executions are counted where they happen: the provider's
//! ledger, or the ticket effect's ledger.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clap::Parser;
use driftq_client::Client;
use serde::Deserialize;
use sidefx_core::{
    Artifacts, BusinessKey, EffectRow, EffectStatus, RunId, RunRow, RunStatus, Store,
};
use sidefx_provider::wire::Ledger;
use sidefx_provider::{FaultRates, Faults, ProviderClient};
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
    /// The in-process payments provider, in provider mode.
    pub provider: Option<Provider>,
    /// Variables every worker started from now on gets, after the stack's own.
    worker_env: Vec<(String, String)>,
    _broker: driftq_local::Broker,
    _api_stop: oneshot::Sender<()>,
}

/// The payments provider of a provider-mode stack.
#[derive(Debug)]
pub struct Provider {
    /// Its base URL.
    pub url: String,
    /// Its client (ledger reads).
    pub client: ProviderClient,
    /// Its fault rates, changeable while it serves.
    pub faults: Faults,
    _stop: oneshot::Sender<()>,
}

/// Which effect the stack's workers perform.
#[derive(Debug, Clone, Copy)]
pub enum Effect {
    /// `WORKER_EFFECT=ticket`.
    Ticket,
    /// `WORKER_EFFECT=provider`, against an in-process provider with these fault rates.
    Provider(FaultRates),
}

/// `POST /runs` answer.
#[derive(Debug, Deserialize)]
pub struct Created {
    pub run_id: RunId,
}

impl Stack {
    /// Starts the broker, the API and `workers` ticket-mode worker processes.
    pub async fn start(workers: usize) -> Stack {
        Self::start_with(workers, Effect::Ticket).await
    }

    /// Starts the broker, the API, the provider (in provider mode) and `workers` workers.
    pub async fn start_with(workers: usize, effect: Effect) -> Stack {
        let dir = tempfile::tempdir().expect("temp dir");
        let provider = match effect {
            Effect::Ticket => None,
            Effect::Provider(rates) => Some(start_provider(dir.path(), rates).await),
        };
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
            provider,
            worker_env: Vec::new(),
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
            .env_remove("SIDEFX_MUTATION")
            .env("WORKER_EFFECT", "ticket")
            // The tests crash and fail workers on purpose through the runs they create.
            .env("SIDEFX_CHAOS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if let Some(provider) = &self.provider {
            // Under the 1 s lease the workers run with: a slow call ends while claimed.
            command
                .env("WORKER_EFFECT", "provider")
                .env("PROVIDER_URL", &provider.url)
                .env("PROVIDER_TIMEOUT_MS", "700");
        }
        command
    }

    /// Sets a variable for the workers started after this call.
    pub fn set_worker_env(&mut self, name: &str, value: &str) {
        self.worker_env.push((name.to_owned(), value.to_owned()));
    }

    /// Starts one more supervised worker process.
    pub fn add_worker(&mut self) {
        let worker = self.spawn_worker();
        self.workers.push(Some(worker));
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
            .env("WORKER_CLAIM_LEASE_MS", "1000")
            .env("WORKER_RETRY_BASE_MS", "50")
            .env("WORKER_RETRY_MAX_MS", "200")
            .envs(self.worker_env.iter().map(|(k, v)| (k, v)))
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

    /// Asserts the exactly-once invariant for a completed run, counted where the effect
    /// happens: one done row, its ticket, and exactly one execution of its business key (a
    /// charge at the provider, or a line of the ticket ledger).
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
        assert_eq!(
            self.executions(key).await,
            1,
            "one execution of {key}:\n{}",
            self.logs()
        );
    }

    /// How often the effect of `key` executed: charges at the provider in provider mode,
    /// tickets created (the ticket ledger) in ticket mode.
    pub async fn executions(&self, key: &BusinessKey) -> u64 {
        match &self.provider {
            Some(_) => self
                .ledger()
                .await
                .charges_per_reference
                .get(key.as_str())
                .copied()
                .unwrap_or(0),
            None => self
                .artifacts
                .read_ledger()
                .await
                .expect("ticket ledger")
                .iter()
                .filter(|e| &e.business_key == key)
                .count() as u64,
        }
    }

    /// The provider's ledger (provider mode only).
    pub async fn ledger(&self) -> Ledger {
        let provider = self.provider.as_ref().expect("a provider-mode stack");
        provider.client.ledger().await.expect("GET /_ledger")
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

impl Drop for Stack {
    /// A failed test shows what its workers said (their logs vanish with the temp dir).
    #[expect(clippy::print_stderr, reason = "a failing test's diagnostics")]
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("worker logs:\n{}", self.logs());
        }
    }
}

/// Serves the payments provider in-process on 127.0.0.1:0, its database in `dir`.
async fn start_provider(dir: &Path, rates: FaultRates) -> Provider {
    let store = sidefx_provider::Store::open(
        &dir.join("provider.sqlite"),
        Duration::from_secs(86_400),
        sidefx_provider::Clock::System,
    )
    .await
    .expect("provider store");
    let faults = Faults::new(rates, 7);
    let state = sidefx_provider::AppState::new(store, faults.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(sidefx_provider::serve(listener, state, async {
        let _ = stopped.await;
    }));
    Provider {
        client: ProviderClient::new(url.clone(), Duration::from_secs(10)).expect("client"),
        url,
        faults,
        _stop: stop,
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
        "--chaos",
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
