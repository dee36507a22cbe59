//! `sidefx-worker`: reads its config, starts telemetry, runs the worker until SIGTERM or Ctrl-C.

use anyhow::Context;
use clap::Parser;
use sidefx_worker::WorkerConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `.env` in the working directory, like docker compose reads it; the real environment wins.
    load_dotenv()?;
    let config = WorkerConfig::parse();
    sidefx_core::telemetry::init(&config.telemetry).context("starting telemetry")?;
    sidefx_worker::run(config, shutdown_signal())
        .await
        .context("worker failed")
}

/// Completes on Ctrl-C or SIGTERM (what `docker stop` and supervisors send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => drop(sigterm.recv().await),
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Loads `.env` from the working directory if there is one; variables already set win.
fn load_dotenv() -> anyhow::Result<()> {
    match dotenvy::dotenv() {
        Err(e) if !e.not_found() => Err(e).context("reading .env"),
        _ => Ok(()),
    }
}
