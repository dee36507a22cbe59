//! `sidefx-provider`: a Stripe-like payments provider simulator. The worker's provider effect
//! charges a card here, and test harnesses read its ledger to count real executions.
//!
//! [`wire`] (always compiled) is the JSON contract; feature `client` adds `client`, the
//! typed client; feature `server` (default) adds the simulator: `app` builds the router,
//! `serve` runs it on a listener until a shutdown future completes.

pub mod wire;

#[cfg(feature = "client")]
pub mod client;

#[cfg(feature = "server")]
mod charge;
#[cfg(feature = "server")]
pub mod clock;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
mod conn;
#[cfg(feature = "server")]
mod error;
#[cfg(feature = "server")]
pub mod faults;
#[cfg(feature = "server")]
mod inflight;
#[cfg(feature = "server")]
mod routes;
#[cfg(feature = "server")]
mod state;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod telemetry;

#[cfg(feature = "client")]
pub use client::{ChargeReply, ClientError, ProviderClient};
#[cfg(feature = "server")]
pub use {
    clock::{Clock, ManualClock},
    config::ProviderConfig,
    faults::{FaultRates, Faults, Rate},
    routes::app,
    state::AppState,
    store::Store,
};

/// Serves the provider on `listener` until `shutdown` completes, then lets requests in
/// progress finish. Connections are served by hand (not `axum::serve`) so that the
/// drop-after-commit fault can close one without answering.
#[cfg(feature = "server")]
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()>,
) {
    conn::serve(listener, app(state), shutdown).await;
}
