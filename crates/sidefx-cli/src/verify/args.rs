//! The flags of `sidefx verify`.

use clap::Args;

use crate::api_client::AdminArgs;

/// Flags of `sidefx verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Base URL of the sidefx API. Default: the stack recorded in --data-dir, else
    /// http://localhost:8000.
    #[arg(long, env = "SIDEFX_API_URL", value_name = "URL")]
    pub api: Option<String>,
    /// Print the report as JSON (the body of `/debug/verify`) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Treat every unfinished run and expired claim as a violation at once (no grace
    /// periods): ask it of an idle stack, "has everything finished?".
    #[arg(long)]
    pub settled: bool,
    /// Also check the payments provider's ledger: every done effect has exactly one charge,
    /// its receipt's, and every charge belongs to a done effect. Default: the provider of a
    /// provider-mode stack recorded in --data-dir (no provider check for a ticket stack).
    #[arg(long, env = "PROVIDER_URL", value_name = "URL")]
    pub provider_url: Option<String>,
    /// The API's admin token, when it is locked down.
    #[command(flatten)]
    pub admin: AdminArgs,
}
