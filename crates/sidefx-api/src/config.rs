//! The API's one typed configuration, read once at startup from flags and environment
//! variables (the original's names). Doc comments here become `sidefx-api --help`.

use std::net::SocketAddr;

use sidefx_core::config::{ChaosArgs, DriftqArgs, StoreArgs, TelemetryArgs};

use crate::cors::AllowedOrigins;

/// Configuration of the `sidefx-api` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "sidefx-api",
    version,
    about = "HTTP API of sidefx: create runs, stream their events, inspect side effects"
)]
pub struct ApiConfig {
    /// Address to listen on. Loopback by default, so a development API is not reachable from
    /// the network by accident; containers set `API_ADDR=0.0.0.0:8000`.
    #[arg(long, env = "API_ADDR", default_value = "127.0.0.1:8000")]
    pub api_addr: SocketAddr,

    /// DriftQ connection.
    #[command(flatten)]
    pub driftq: DriftqArgs,

    /// SQLite store and artifact directory (shared with the worker).
    #[command(flatten)]
    pub store: StoreArgs,

    /// Logging.
    #[command(flatten)]
    pub telemetry: TelemetryArgs,

    /// Whether runs may set the chaos switches (`SIDEFX_CHAOS`).
    #[command(flatten)]
    pub chaos: ChaosArgs,

    /// Browser origins allowed by CORS: comma-separated, or `*` for any. `*` lets every web
    /// page a user opens call this API from their browser, so it is refused at startup
    /// unless `API_ALLOW_ANY_ORIGIN=1` confirms it (then it is logged as a warning).
    #[arg(long, env = "ALLOW_ORIGINS", default_value = "http://localhost:3000")]
    pub allow_origins: AllowedOrigins,

    /// Confirms `ALLOW_ORIGINS=*`.
    #[arg(long, env = "API_ALLOW_ANY_ORIGIN", default_value_t = false,
        value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_any_origin: bool,

    /// `Host` header values accepted (comma-separated host or host:port, e.g.
    /// `localhost:8000,api.example.com`); other values get 421 `misdirected_request`.
    /// Protects a loopback API from DNS rebinding. Unset: any Host.
    #[arg(long, env = "API_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Bearer token that `/debug/*` and `/metrics` require (`Authorization: Bearer
    /// <token>`; 401 otherwise). Unset or empty: they are open, which suits the default
    /// loopback address; set it whenever others can reach the API.
    #[arg(long, env = "API_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Time a client has to send a request's line and headers (ms); then the connection is
    /// closed. Also how long an idle keep-alive connection stays open. Bounds slow clients
    /// that trickle header bytes to hold connections.
    #[arg(long, env = "API_HEADER_TIMEOUT_MS", default_value_t = 5000,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: u64,

    /// Time a client has to send a whole request body (ms); then 408 `request_timeout`.
    #[arg(long, env = "API_BODY_TIMEOUT_MS", default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_ms: u64,

    /// Time a request may take from its headers to its response (ms); then 408
    /// `request_timeout`. An event stream's body is not covered (it is meant to stay open).
    #[arg(long, env = "API_REQUEST_TIMEOUT_MS", default_value_t = 30_000,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,

    /// Most event streams (`/runs/{id}/events`) open at once; more get 503
    /// `too_many_streams` with `Retry-After`. Streams do not hold connection slots
    /// (`API_MAX_CONNECTIONS`), so watchers can never starve requests.
    #[arg(long, env = "API_MAX_STREAMS", default_value_t = crate::stream_limit::DEFAULT_MAX_STREAMS,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams: u32,

    /// Most event streams one client (peer IP address) may hold open at once.
    #[arg(long, env = "API_MAX_STREAMS_PER_CLIENT",
        default_value_t = crate::stream_limit::DEFAULT_MAX_STREAMS_PER_CLIENT,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams_per_client: u32,

    /// Most `POST /runs` requests served at once; more are answered 503 `overloaded` with
    /// `Retry-After` at once. Bounds the API's memory when clients send faster than the
    /// broker and the store can take (each waiting request holds a task, buffers and a
    /// broker connection).
    #[arg(long, env = "API_MAX_INFLIGHT_RUNS", default_value_t = crate::state::DEFAULT_MAX_INFLIGHT_RUNS,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub max_inflight_runs: u32,

    /// Most accepted runs whose first messages the broker has not taken yet (it is down or
    /// full). They wait in the store's run outbox and are published when it takes them again;
    /// beyond this many, `POST /runs` answers 503 `overloaded`, storing nothing.
    #[arg(long, env = "API_MAX_PENDING_RUNS", default_value_t = crate::state::DEFAULT_MAX_PENDING_RUNS,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub max_pending_runs: u32,

    /// How often an operator may redrive one dead-lettered run (`POST /runs/{id}/redrive`);
    /// one more is refused with 409 `redrive_cap`. Each redrive gives the run its request's
    /// `max_attempts` attempts again.
    #[arg(long, env = "API_MAX_DLQ_REDRIVES", default_value_t = crate::state::DEFAULT_MAX_DLQ_REDRIVES)]
    pub max_dlq_redrives: u32,

    /// Most connections kept open at once for requests; more wait in the kernel's accept
    /// backlog until one closes. Bounds the API's memory against clients that open a
    /// connection per request. Idle connections and slow senders are closed after
    /// `API_HEADER_TIMEOUT_MS`, so they cannot hold every slot for long. An event stream
    /// gives its slot back once admitted (streams are bounded by `API_MAX_STREAMS`).
    #[arg(long, env = "API_MAX_CONNECTIONS", default_value_t = crate::state::DEFAULT_MAX_CONNECTIONS,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}
