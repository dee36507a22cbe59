//! `driftq-local`: a single-process broker that speaks the DriftQ v1 HTTP API
//! exactly as the real `driftqd` does (quirks included), with a durable,
//! group-committed write-ahead log.
//!
//! Where to look:
//!
//! | concept | module |
//! |---|---|
//! | configuration / CLI flags | [`config`] |
//! | start-up, background tasks, shutdown | [`server`] |
//! | HTTP routing, parameters, responses, the NDJSON stream | [`http`] (stream: `http::consume`) |
//! | broker semantics (dispatch, leases, acks, DLQ, backpressure) | [`state`] |
//! | WAL format, group commit, replay | [`wal`] |
//! | Go-compatible JSON | [`json`] |
//!
//! ```no_run
//! # async fn demo() -> Result<(), driftq_local::StartError> {
//! let broker = driftq_local::spawn(driftq_local::BrokerConfig::ephemeral("/tmp/t.wal")).await?;
//! println!("{}", broker.base_url());
//! broker.shutdown().await;
//! # Ok(()) }
//! ```

pub mod config;
pub mod deadline;
pub mod error;
pub mod http;
pub mod json;
pub mod model;
pub mod partition;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod wal;

pub use config::{BrokerConfig, Limits, LogFormat};
pub use error::{ApiError, StartError};
pub use server::{Broker, spawn};
