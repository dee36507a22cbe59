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
}
