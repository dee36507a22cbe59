//! `sidefx-api`: reads its configuration, starts telemetry, serves the API until SIGTERM or
//! Ctrl-C. Everything else lives in the library.

use anyhow::Context;
use clap::Parser;
use sidefx_api::{ApiConfig, AppState};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `.env` in the working directory, like docker compose reads it; the real environment wins.
    load_dotenv()?;
    let config = ApiConfig::parse();
    sidefx_core::telemetry::init(&config.telemetry).context("starting telemetry")?;
    let state = AppState::from_config(&config)
        .await
        .context("starting the API")?;
    let listener = tokio::net::TcpListener::bind(config.api_addr)
        .await
        .with_context(|| format!("binding {}", config.api_addr))?;
    tracing::info!(addr = %listener.local_addr()?, driftq = %config.driftq.driftq_http_url, "sidefx-api listening");
    sidefx_api::serve(listener, state, sidefx_core::shutdown_signal()).await?;
    tracing::info!("sidefx-api stopped");
    Ok(())
}

/// Loads `.env` from the working directory if there is one; variables already set win.
fn load_dotenv() -> anyhow::Result<()> {
    match dotenvy::dotenv() {
        Err(e) if !e.not_found() => Err(e).context("reading .env"),
        _ => Ok(()),
    }
}
