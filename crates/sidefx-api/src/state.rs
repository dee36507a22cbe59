//! The shared state of every handler: cheap, clonable handles to the store, the publisher and
//! the artifact directory, plus this process's broker owner name and its shutdown signal.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};

use sidefx_core::metrics::PrometheusHandle;
use sidefx_core::{Artifacts, Publisher, Store, StoreError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::broker_pressure::BrokerPressure;
use crate::config::ApiConfig;
use crate::cors::AllowedOrigins;
use crate::error::ApiError;
use crate::history_feed::HistoryFeed;
use crate::host_check::AllowedHosts;
use crate::stream_limit::{DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_CLIENT, StreamLimits};
use crate::timeouts::Timeouts;

/// Default of `--max-inflight-runs`: far above what a closed-loop client with a few dozen
/// connections keeps in flight, low enough that an overload costs a few MiB, not hundreds.
pub const DEFAULT_MAX_INFLIGHT_RUNS: u32 = 64;

/// Default of `--max-connections` (see `conn_limit.rs`): an open connection costs a task and
/// a few KiB of buffers, so a thousand is cheap, and it takes that many slow clients at once
/// (each cut off after the header timeout) to hold every slot.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 1024;

/// Default of `--max-pending-runs`: runs accepted while the broker is down or full wait in
/// the outbox; ten thousand is minutes of traffic at the rates `sidefx bench` measures and a
/// few MiB of disk.
pub const DEFAULT_MAX_PENDING_RUNS: u32 = 10_000;

/// Default of `API_MAX_DLQ_REDRIVES`: a dead letter that failed its attempts again after three
/// redrives needs a fix, not a fourth.
pub const DEFAULT_MAX_DLQ_REDRIVES: u32 = 3;

/// What the handlers share (through axum's `State`). Clones share everything.
#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Store,
    pub(crate) publisher: Publisher,
    pub(crate) artifacts: Arc<Artifacts>,
    pub(crate) allowed_origins: AllowedOrigins,
    /// Owner name of this process's DriftQ consumers (SSE streams); unique per process so
    /// acks of one API instance can never be mistaken for another's.
    pub(crate) owner: Arc<str>,
    /// Renders this process's metrics for `GET /metrics`; `None` if another recorder was
    /// installed before ours (the route then answers 500).
    pub(crate) metrics: Option<PrometheusHandle>,
    /// One permit per `POST /runs` being served (see [`AppState::admit_run`]).
    run_admission: Arc<Semaphore>,
    /// Runs the outbox may hold unpublished before `POST /runs` answers 503 `overloaded`.
    pub(crate) max_pending_runs: u32,
    /// Published runs whose outbox rows the relay has not cleared yet.
    pub(crate) published: crate::outbox::Published,
    /// Open connections [`crate::serve`] keeps at most.
    pub(crate) max_connections: u32,
    /// Header, body and request deadlines.
    pub(crate) timeouts: Timeouts,
    /// Bounds on open event streams.
    pub(crate) stream_limits: StreamLimits,
    /// `Host` allow-list (empty = any).
    pub(crate) allowed_hosts: AllowedHosts,
    /// `SIDEFX_CHAOS`: whether a run may set the chaos switches.
    pub(crate) chaos: bool,
    /// One `/debug/verify` at a time: each reads every row and ticket, so concurrent ones
    /// only multiply the memory and make every one of them slow.
    pub(crate) verify_gate: Arc<Semaphore>,
    /// The broker's last backpressure refusal, for `/healthz`.
    pub(crate) broker_pressure: BrokerPressure,
    /// `API_ADMIN_TOKEN`: required by `/debug/*` and `/metrics` when set.
    pub(crate) admin_token: Option<Arc<str>>,
    /// Flipped to `true` when graceful shutdown starts; open SSE streams end on it.
    shutdown: Arc<watch::Sender<bool>>,
    /// New run events for the open event streams (see `history_feed.rs`).
    pub(crate) history_feed: HistoryFeed,
    /// `API_MAX_DLQ_REDRIVES`: how often an operator may redrive one dead-lettered run.
    pub(crate) max_dlq_redrives: u32,
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiStartError {
    /// The SQLite store could not be opened.
    #[error("opening the store: {0}")]
    Store(#[from] StoreError),
    /// `DRIFTQ_HTTP_URL` is not a usable URL.
    #[error("DriftQ client: {0}")]
    Driftq(#[from] driftq_client::Error),
    /// `ALLOW_ORIGINS=*` without `API_ALLOW_ANY_ORIGIN=1`.
    #[error(
        "ALLOW_ORIGINS=* lets every web page call this API from its visitors' browsers; \
         list the origins, or set API_ALLOW_ANY_ORIGIN=1 to confirm"
    )]
    AnyOriginUnconfirmed,
}

impl AppState {
    /// Opens the store and builds the broker client. Does not contact the broker: the API
    /// starts while DriftQ is down and `/healthz` says so.
    pub async fn from_config(config: &ApiConfig) -> Result<AppState, ApiStartError> {
        if config.allow_origins == AllowedOrigins::Any {
            if !config.allow_any_origin {
                return Err(ApiStartError::AnyOriginUnconfirmed);
            }
            tracing::warn!("ALLOW_ORIGINS=*: any web page may call this API from a browser");
        }
        let store = Store::open(&config.store.db_path).await?;
        let client = driftq_client::Client::new(&config.driftq.driftq_http_url)?;
        let state = AppState::new(
            store,
            Publisher::new(client),
            Artifacts::new(config.store.artifacts_dir.clone()),
            config.allow_origins.clone(),
        );
        let mut state = state
            .with_max_inflight_runs(config.max_inflight_runs)
            .with_max_pending_runs(config.max_pending_runs)
            .with_max_connections(config.max_connections);
        state.timeouts = Timeouts::from_config(config);
        state.stream_limits = StreamLimits::new(config.max_streams, config.max_streams_per_client);
        state.allowed_hosts = AllowedHosts::new(&config.allowed_hosts);
        state.chaos = config.chaos.enabled;
        state.max_dlq_redrives = config.max_dlq_redrives;
        // Compose passes an unset variable as empty: that means "no token", not "".
        state.admin_token = config
            .admin_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(Arc::from);
        Ok(state)
    }

    /// State from ready-made parts (what `from_config` does after opening them).
    pub fn new(
        store: Store,
        publisher: Publisher,
        artifacts: Artifacts,
        allowed_origins: AllowedOrigins,
    ) -> AppState {
        let owner = format!("sidefx-api-{}", uuid::Uuid::new_v4().simple());
        AppState {
            history_feed: HistoryFeed::new(store.clone()),
            max_dlq_redrives: DEFAULT_MAX_DLQ_REDRIVES,
            store,
            publisher,
            artifacts: Arc::new(artifacts),
            allowed_origins,
            owner: owner.into(),
            metrics: metrics_handle(),
            run_admission: admission(DEFAULT_MAX_INFLIGHT_RUNS),
            max_pending_runs: DEFAULT_MAX_PENDING_RUNS,
            published: crate::outbox::Published::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            timeouts: Timeouts::default(),
            stream_limits: StreamLimits::new(DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_CLIENT),
            allowed_hosts: AllowedHosts::default(),
            chaos: false,
            verify_gate: Arc::new(Semaphore::new(1)),
            broker_pressure: BrokerPressure::default(),
            admin_token: None,
            shutdown: Arc::new(watch::channel(false).0),
        }
    }

    /// The same state, serving at most `limit` `POST /runs` at once (at least one).
    #[must_use]
    pub fn with_max_inflight_runs(mut self, limit: u32) -> AppState {
        self.run_admission = admission(limit);
        self
    }

    /// The same state, holding at most `limit` accepted runs the broker has not taken yet
    /// (at least one).
    #[must_use]
    pub fn with_max_pending_runs(mut self, limit: u32) -> AppState {
        self.max_pending_runs = limit.max(1);
        self
    }

    /// The same state, served with at most `limit` open connections (at least one).
    #[must_use]
    pub fn with_max_connections(mut self, limit: u32) -> AppState {
        self.max_connections = limit.max(1);
        self
    }

    /// The same state, accepting runs that set the chaos switches (`SIDEFX_CHAOS`) or not.
    #[must_use]
    pub fn with_chaos(mut self, enabled: bool) -> AppState {
        self.chaos = enabled;
        self
    }

    /// Admits one `POST /runs` for as long as the permit lives, or refuses it at once with
    /// [`ApiError::Overloaded`]. Refusing instead of queueing is the point: a queue would
    /// hold every waiting request's memory and answer it late anyway, while a prompt 503
    /// with `Retry-After` lets the client back off (and retry with its `Idempotency-Key`).
    pub(crate) fn admit_run(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        Arc::clone(&self.run_admission)
            .try_acquire_owned()
            .map_err(|_| ApiError::Overloaded)
    }

    /// Marks the start of graceful shutdown: every open SSE stream ends.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Completes once graceful shutdown has started.
    pub(crate) fn shutdown_started(&self) -> impl Future<Output = ()> + Send + use<> {
        let mut started = self.shutdown.subscribe();
        async move {
            // An error means the sender is gone, i.e. the state itself is being dropped:
            // that is a shutdown too.
            let _ = started.wait_for(|started| *started).await;
        }
    }
}

fn admission(limit: u32) -> Arc<Semaphore> {
    let permits = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
    Arc::new(Semaphore::new(permits))
}

/// The process-wide Prometheus handle, installed on first use. A process has one global
/// recorder, and tests build many states in one process, so every state shares this one.
fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    let handle = HANDLE.get_or_init(|| {
        sidefx_core::metrics::install_prometheus()
            .inspect_err(|err| tracing::warn!(error = %err, "metrics disabled"))
            .ok()
    });
    handle.clone()
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store.path())
            .field("owner", &self.owner)
            .field("allowed_origins", &self.allowed_origins)
            .finish_non_exhaustive()
    }
}
