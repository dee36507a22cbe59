//! The API's one typed configuration, read once at startup from flags and environment
//! variables (the original's names). Doc comments here become `sidefx-api --help`.

use std::net::SocketAddr;

use sidefx_core::config::{DriftqArgs, StoreArgs, TelemetryArgs};

use crate::cors::AllowedOrigins;

/// Configuration of the `sidefx-api` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "sidefx-api",
    version,
    about = "HTTP API of sidefx: create runs, stream their events, inspect side effects"
)]
pub struct ApiConfig {
    /// Address to listen on.
    #[arg(long, env = "API_ADDR", default_value = "0.0.0.0:8000")]
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

    /// Browser origins allowed by CORS: comma-separated, or `*` for any.
    #[arg(long, env = "ALLOW_ORIGINS", default_value = "http://localhost:3000")]
    pub allow_origins: AllowedOrigins,

    /// Most `POST /runs` requests served at once; more are answered 503 `overloaded` with
    /// `Retry-After` at once. Bounds the API's memory when clients send faster than the
    /// broker and the store can take (each waiting request holds a task, buffers and a
    /// broker connection).
    #[arg(long, env = "API_MAX_INFLIGHT_RUNS", default_value_t = crate::state::DEFAULT_MAX_INFLIGHT_RUNS,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub max_inflight_runs: u32,

    /// Most connections kept open at once; more wait in the kernel's accept backlog until
    /// one closes. Bounds the API's memory against clients that open a connection per
    /// request. A connection without traffic for 60 s is closed, so idle keep-alive
    /// connections cannot hold every slot. Event streams (`/runs/{id}/events`) hold one each
    /// (their keep-alive comments keep them open): size it for your watchers.
    #[arg(long, env = "API_MAX_CONNECTIONS", default_value_t = crate::state::DEFAULT_MAX_CONNECTIONS,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}
