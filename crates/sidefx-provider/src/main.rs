//! `sidefx-provider`: reads its configuration, starts logging, serves the simulator until
//! SIGTERM or Ctrl-C. Everything else lives in the library.

use anyhow::Context;
use clap::Parser;
use sidefx_provider::{AppState, ProviderConfig, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `.env` in the working directory, like docker compose reads it; the real environment wins.
    load_dotenv()?;
    let config = ProviderConfig::parse();
    telemetry::init(&config.log_level, config.log_format).context("starting logging")?;
    let state = AppState::from_config(&config)
        .await
        .with_context(|| format!("opening {}", config.db.display()))?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("binding {}", config.addr))?;
    let rates = config.fault_rates();
    tracing::info!(
        seed = state.faults.seed(),
        rate_limit = %rates.rate_limit,
        fail_before_commit = %rates.fail_before_commit,
        slow = %rates.slow,
        slow_ms = config.slow_ms,
        drop_after_commit = %rates.drop_after_commit,
        key_retention_secs = config.key_retention_secs,
        "fault injection"
    );
    let addr = listener.local_addr()?;
    tracing::info!(addr = %addr, db = %config.db.display(), "sidefx-provider listening");
    sidefx_provider::serve(listener, state, sidefx_core::shutdown_signal()).await;
    tracing::info!("sidefx-provider stopped");
    Ok(())
}

/// Loads `.env` from the working directory if there is one; variables already set win.
fn load_dotenv() -> anyhow::Result<()> {
    match dotenvy::dotenv() {
        Err(e) if !e.not_found() => Err(e).context("reading .env"),
        _ => Ok(()),
    }
}
