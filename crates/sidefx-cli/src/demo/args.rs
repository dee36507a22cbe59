//! The flags of `sidefx demo`.

use clap::Args;

use super::Scenario;
use crate::api_client::AdminArgs;

/// Flags of `sidefx demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Which demo to run.
    #[arg(value_enum)]
    pub scenario: Scenario,
    /// Base URL of the sidefx API. Default: the stack recorded in --data-dir, else
    /// http://localhost:8000.
    #[arg(long, env = "SIDEFX_API_URL", value_name = "URL")]
    pub api: Option<String>,
    /// Seconds to wait for the run to finish and the proof to hold.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
    /// The workers' lease (ms), for the countdown a crash demo shows while DriftQ waits to
    /// redeliver the crashed worker's command.
    #[arg(
        long,
        env = "WORKER_LEASE_MS",
        value_name = "MS",
        default_value_t = 5000
    )]
    pub lease_ms: u64,
    /// Base URL of the payments provider, read when the run's receipt is a charge. Default:
    /// the provider of the stack recorded in --data-dir, else http://127.0.0.1:8090.
    #[arg(long, env = "PROVIDER_URL", value_name = "URL")]
    pub provider_url: Option<String>,
    /// The API's admin token, when it is locked down.
    #[command(flatten)]
    pub admin: AdminArgs,
}
