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

use crate::charges::{charges_of, not_once};
use crate::poll_until;

/// The worker binary's name.
const WORKER_BIN: &str = "sidefx-worker";

/// Starts driftq-local on 127.0.0.1:0 with its WAL in `dir` (`driftq.wal`).
///
/// # Panics
///
/// When the broker cannot start.
pub async fn spawn_broker(dir: &Path) -> driftq_local::Broker {
    driftq_local::spawn(driftq_local::BrokerConfig::ephemeral(
        dir.join("driftq.wal"),
    ))
    .await
    .expect("driftq-local starts")
}

/// One `sidefx-worker` process; killed (by its PID, through `Child`) when dropped, so a
/// failing test leaves nothing behind.
#[derive(Debug)]
pub struct WorkerProcess {
    child: Child,
}

impl WorkerProcess {
    /// Takes ownership of a started worker.
    pub fn new(child: Child) -> Self {
        WorkerProcess { child }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which effect the stack's workers perform.
#[derive(Debug, Clone, Copy)]
pub enum Effect {
    /// `WORKER_EFFECT=ticket`: a ticket file per business key, executions counted in the
    /// ticket ledger.
    Ticket,
    /// `WORKER_EFFECT=provider`, against an in-process provider with these fault rates;
    /// executions counted at its ledger.
    Provider(FaultRates),
}

/// The payments provider simulator served in-process on 127.0.0.1:0 (a provider-mode stack
/// has one); it stops when dropped.
#[derive(Debug)]
pub struct TestProvider {
    /// Its base URL.
    pub url: String,
    /// A client of it (charges, ledger reads).
    pub client: ProviderClient,
    /// Its fault rates, changeable while it serves.
    pub faults: Faults,
    _stop: oneshot::Sender<()>,
}

impl TestProvider {
    /// Serves a provider with `rates` (faults seeded with 7), its database in `dir`.
    ///
    /// # Panics
    ///
    /// When its store cannot be opened or no port can be bound.
    pub async fn start(dir: &Path, rates: FaultRates) -> TestProvider {
        let store = sidefx_provider::Store::open(
            &dir.join("provider.sqlite"),
            Duration::from_secs(86_400),
            sidefx_provider::Clock::System,
        )
        .await
        .expect("provider store");
        let faults = Faults::new(rates, 7);
        let state = sidefx_provider::AppState::new(store, faults.clone());
        let (listener, url) = listen().await;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(sidefx_provider::serve(listener, state, async {
            let _ = stopped.await;
        }));
        TestProvider {
            client: ProviderClient::new(url.clone(), Duration::from_secs(10)).expect("client"),
            url,
            faults,
            _stop: stop,
        }
    }

    /// Its ledger right now.
    ///
    /// # Panics
    ///
    /// When `GET /_ledger` fails.
    pub async fn ledger(&self) -> Ledger {
        self.client.ledger().await.expect("GET /_ledger")
    }
}

/// How to start a [`TestStack`]: [`TestStack::builder`], then [`TestStackBuilder::spawn`].
#[derive(Debug, Clone)]
pub struct TestStackBuilder {
    workers: usize,
    effect: Effect,
    worker_bin: Option<PathBuf>,
    worker_env: Vec<(String, String)>,
    admin_token: Option<String>,
}

impl TestStackBuilder {
    /// Starts this many worker processes (default 1; 0 to add them later with
    /// [`TestStack::add_worker`], or to start them by hand with [`TestStack::worker_command`]).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// The effect the workers perform (default [`Effect::Ticket`]).
    pub fn effect(mut self, effect: Effect) -> Self {
        self.effect = effect;
        self
    }

    /// The `sidefx-worker` binary to run. The worker's own tests pass
    /// `env!("CARGO_BIN_EXE_sidefx-worker")`; by default it is looked up in the target
    /// directory of the running test (what `cargo build --workspace --bins` builds).
    pub fn worker_bin(mut self, path: impl Into<PathBuf>) -> Self {
        self.worker_bin = Some(path.into());
        self
    }

    /// Sets a variable for every worker the stack starts (as [`TestStack::set_worker_env`],
    /// but before the first one).
    pub fn worker_env(mut self, name: &str, value: &str) -> Self {
        self.worker_env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Starts the API with this `API_ADMIN_TOKEN` (default: none, every admin route open).
    pub fn admin_token(mut self, token: &str) -> Self {
        self.admin_token = Some(token.to_owned());
        self
    }

    /// Starts the provider (in provider mode), the broker, the API and the workers, over one
    /// temp dir.
    ///
    /// # Panics
    ///
    /// When a part cannot start, or workers are asked for and the worker binary is missing.
    pub async fn spawn(self) -> TestStack {
        let dir = tempfile::tempdir().expect("temp dir");
        let provider = match self.effect {
            Effect::Ticket => None,
            Effect::Provider(rates) => Some(TestProvider::start(dir.path(), rates).await),
        };
        let broker = spawn_broker(dir.path()).await;
        let broker_url = broker.base_url();
        let (db, artifacts_dir) = (
            dir.path().join("sidefx.sqlite"),
            dir.path().join("artifacts"),
        );
        let (api_url, api_stop) = start_api(
            &broker_url,
            &db,
            &artifacts_dir,
            self.admin_token.as_deref(),
        )
        .await;
        let mut stack = TestStack {
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
            worker_env: self.worker_env,
            worker_bin: self.worker_bin.unwrap_or_else(default_worker_bin),
            _broker: broker,
            _api_stop: api_stop,
        };
        for _ in 0..self.workers {
            stack.add_worker();
        }
        stack
    }
}

/// `sidefx-worker` next to the running test's executable (`target/<profile>/deps/…`), where
/// cargo puts the workspace's binaries.
fn default_worker_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's executable");
    let mut dir = exe.parent().expect("its directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(format!("{WORKER_BIN}{}", std::env::consts::EXE_SUFFIX))
}

/// Broker + API + workers (+ provider) over one temp dir; everything stops when dropped,
/// worker processes killed by their PID. A failing test prints the workers' logs.
#[derive(Debug)]
pub struct TestStack {
    /// The temp dir holding the WAL, the store, the artifacts and the worker logs.
    pub dir: TempDir,
    /// The broker's base URL.
    pub broker_url: String,
    /// The API's base URL.
    pub api_url: String,
    /// A client of the broker.
    pub client: Client,
    /// An HTTP client (for the API).
    pub http: reqwest::Client,
    /// The store the API and the workers share.
    pub store: Store,
    /// The ticket files and the ticket ledger.
    pub artifacts: Artifacts,
    workers: Vec<Option<WorkerProcess>>,
    starts: usize,
    /// Exit codes of worker processes that ended (and were restarted).
    pub exits: Vec<Option<i32>>,
    /// The in-process payments provider, in provider mode.
    pub provider: Option<TestProvider>,
    /// Variables every worker started from now on gets, after the stack's own.
    worker_env: Vec<(String, String)>,
    worker_bin: PathBuf,
    _broker: driftq_local::Broker,
    _api_stop: oneshot::Sender<()>,
}

/// `POST /runs` answer.
#[derive(Debug, Deserialize)]
struct Created {
    run_id: RunId,
}

impl TestStack {
    /// Starts the broker, the API and one ticket-mode worker process (the worker binary found
    /// as [`TestStackBuilder::worker_bin`] says).
    pub async fn spawn() -> TestStack {
        Self::builder().spawn().await
    }

    /// A builder: the number of workers, the effect, the worker binary.
    pub fn builder() -> TestStackBuilder {
        TestStackBuilder {
            workers: 1,
            effect: Effect::Ticket,
            worker_bin: None,
            worker_env: Vec::new(),
            admin_token: None,
        }
    }

    /// The worker binary wired to this stack's broker, store and artifacts (and provider),
    /// with a clean environment for the variables tests care about; callers add their own
    /// and stderr.
    ///
    /// # Panics
    ///
    /// When the worker binary is missing, saying how to build it.
    pub fn worker_command(&self) -> Command {
        assert!(
            self.worker_bin.is_file(),
            "{} is missing: run `cargo build --workspace --bins` before these tests (`make test` \
             does), or pass its path with TestStackBuilder::worker_bin",
            self.worker_bin.display()
        );
        let artifacts = self.artifacts.tickets_dir();
        let mut command = Command::new(&self.worker_bin);
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
        poll_until("workers to open their streams", timeout, || async {
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

    /// PID of the worker in `slot` (to signal it; the stack kills it through its `Child`).
    ///
    /// # Panics
    ///
    /// When no worker runs in `slot`.
    pub fn worker_pid(&self, slot: usize) -> u32 {
        self.workers[slot].as_ref().expect("worker running").pid()
    }

    /// Waits for the worker in `slot` to exit, without restarting it, and returns its exit
    /// code.
    ///
    /// # Panics
    ///
    /// When no worker runs in `slot`, or it is still running after `timeout`.
    pub async fn wait_worker_exit(&mut self, slot: usize, timeout: Duration) -> Option<i32> {
        let worker = self.workers[slot].as_mut().expect("worker running");
        let what = format!("worker {slot} to exit");
        let status = poll_until(&what, timeout, || {
            std::future::ready(worker.child.try_wait().expect("try_wait"))
        })
        .await;
        self.workers[slot] = None;
        status.code()
    }

    /// `POST /runs` with `body`, optionally with an `Idempotency-Key`; the new run's id.
    ///
    /// # Panics
    ///
    /// When the API does not answer with a success.
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

    /// Waits, supervising workers, until the run reaches `status`; its row then.
    pub async fn wait_status(
        &mut self,
        run: &RunId,
        status: RunStatus,
        timeout: Duration,
    ) -> RunRow {
        let store = self.store.clone();
        let what = format!("run {run} to be {status:?}");
        poll_until(&what, timeout, || {
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

    /// Asserts that the effect of `key` executed exactly once, counted where it happens: its
    /// charges at the provider in provider mode (see [`crate::assert_charged_once`]), the
    /// ticket ledger's lines in ticket mode.
    ///
    /// # Panics
    ///
    /// When it executed never or more than once, printing the ledger and the worker logs.
    pub async fn assert_charged_once(&self, key: &BusinessKey) {
        let (times, ledger) = match &self.provider {
            Some(provider) => {
                let ledger = provider.ledger().await;
                let text = format!("the provider's ledger: {ledger:#?}");
                (charges_of(&ledger, key.as_str()), text)
            }
            None => {
                let entries = self.ticket_ledger().await;
                let times = entries.iter().filter(|e| &e.business_key == key).count();
                (times as u64, format!("the ticket ledger: {entries:#?}"))
            }
        };
        assert!(
            times == 1,
            "{}\nworker logs:\n{}",
            not_once(key.as_str(), times, &ledger),
            self.logs()
        );
    }

    /// Asserts the exactly-once invariant for a completed run: one done effect row, its
    /// ticket, and exactly one execution of its business key
    /// ([`TestStack::assert_charged_once`]).
    ///
    /// # Panics
    ///
    /// When any of these does not hold.
    pub async fn assert_run_charged_once(&self, run: &RunId) {
        let effects = self.effects(run).await;
        assert_eq!(effects.len(), 1, "one effect row of {run}: {effects:?}");
        assert_eq!(effects[0].status, EffectStatus::Done, "{effects:?}");
        let key = &effects[0].business_key;
        assert!(
            self.artifacts
                .ticket_exists(key)
                .await
                .expect("ticket_exists"),
            "ticket of {key}"
        );
        self.assert_charged_once(key).await;
    }

    /// How often the effect of `key` executed: charges at the provider in provider mode,
    /// tickets created (the ticket ledger) in ticket mode.
    pub async fn executions(&self, key: &BusinessKey) -> u64 {
        match &self.provider {
            Some(provider) => charges_of(&provider.ledger().await, key.as_str()),
            None => self
                .ticket_ledger()
                .await
                .iter()
                .filter(|e| &e.business_key == key)
                .count() as u64,
        }
    }

    async fn ticket_ledger(&self) -> Vec<sidefx_core::LedgerEntry> {
        self.artifacts.read_ledger().await.expect("ticket ledger")
    }

    /// The provider's ledger.
    ///
    /// # Panics
    ///
    /// In ticket mode.
    pub async fn ledger(&self) -> Ledger {
        let provider = self.provider.as_ref().expect("a provider-mode stack");
        provider.ledger().await
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

impl Drop for TestStack {
    /// A failed test shows what its workers said (their logs vanish with the temp dir).
    #[expect(clippy::print_stderr, reason = "a failing test's diagnostics")]
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("worker logs:\n{}", self.logs());
        }
    }
}

/// Serves the API in-process on 127.0.0.1:0, sharing the store and artifacts dir.
async fn start_api(
    broker_url: &str,
    db: &Path,
    artifacts: &Path,
    admin_token: Option<&str>,
) -> (String, oneshot::Sender<()>) {
    let mut args = vec![
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
    ];
    if let Some(token) = admin_token {
        args.extend(["--admin-token", token]);
    }
    let config = sidefx_api::ApiConfig::try_parse_from(args).expect("api config");
    let state = sidefx_api::AppState::from_config(&config)
        .await
        .expect("api state");
    let (listener, url) = listen().await;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(sidefx_api::serve(listener, state, async {
        let _ = stopped.await;
    }));
    (url, stop)
}

/// A listener on 127.0.0.1 on a port the OS picks, and its base URL.
async fn listen() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    (listener, url)
}
