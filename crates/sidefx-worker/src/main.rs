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
    sidefx_worker::run(config, sidefx_core::shutdown_signal())
        .await
        .context("worker failed")
}

/// Loads `.env` from the working directory if there is one; variables already set win.
fn load_dotenv() -> anyhow::Result<()> {
    match dotenvy::dotenv() {
        Err(e) if !e.not_found() => Err(e).context("reading .env"),
        _ => Ok(()),
    }
}
