//! The `driftq-local` daemon: parse flags, start logging, serve until
//! SIGINT/SIGTERM. Start-up failures (unwritable or corrupt WAL, busy port)
//! exit with status 1.

use clap::Parser;
use driftq_local::{BrokerConfig, spawn, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = BrokerConfig::parse();
    telemetry::init(&config.log_level, config.log_format)?;
    let broker = match spawn(config).await {
        Ok(broker) => broker,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return Err(e.into());
        }
    };
    sidefx_core::shutdown_signal().await;
    tracing::info!("shutdown signal received");
    broker.shutdown().await;
    Ok(())
}
