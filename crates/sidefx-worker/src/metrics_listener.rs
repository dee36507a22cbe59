//! The worker's Prometheus endpoint: a minimal HTTP listener with `GET /metrics` only, on
//! `WORKER_METRICS_ADDR`. The worker has no other HTTP surface, so this stays tiny.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use sidefx_core::metrics::{MetricsError, PrometheusHandle, install_prometheus};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Content type of the Prometheus text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4";

/// The metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsListenerError {
    /// The Prometheus recorder could not be installed.
    #[error(transparent)]
    Recorder(#[from] MetricsError),
    /// The address could not be bound.
    #[error("binding the metrics listener on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A running metrics listener; it stops when the worker's shutdown signal turns true.
#[derive(Debug)]
pub struct MetricsListener {
    /// Where it listens (the bound address, so port 0 resolves to the real port).
    pub local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsListener {
    /// Waits until the listener has stopped (after shutdown was signalled).
    pub async fn stopped(self) {
        if let Err(err) = self.task.await {
            warn!(error = %err, "metrics listener task failed");
        }
    }
}

/// The router: `GET /metrics` renders the process's recorder.
pub fn app(handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(handle)
}

async fn render(State(handle): State<PrometheusHandle>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], handle.render())
}

/// Installs the recorder (from now on the worker's metrics are recorded), binds `addr` and
/// serves until `shutdown` turns true.
pub async fn start(
    addr: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) -> Result<MetricsListener, MetricsListenerError> {
    let handle = install_prometheus()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsListenerError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| MetricsListenerError::Bind { addr, source })?;
    info!(addr = %local_addr, "metrics listening on http://{local_addr}/metrics");
    let task = tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        if let Err(err) = axum::serve(listener, app(handle))
            .with_graceful_shutdown(stop)
            .await
        {
            warn!(error = %err, "metrics listener failed");
        }
    });
    Ok(MetricsListener { local_addr, task })
}
