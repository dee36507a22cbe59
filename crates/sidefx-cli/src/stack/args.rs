//! The flags of `sidefx up`, `down` and `status`, and the `--docker` / `--local` choice that
//! the commands acting on a stack share.

use clap::Args;

use super::Mode;
use super::effect::{DEFAULT_PROVIDER_PORT, EffectMode};

/// `--docker` / `--local`: which kind of stack a command is about.
#[derive(Debug, Args, Clone, Copy, Default)]
#[group(multiple = false)]
pub struct ModeArgs {
    /// Use Docker Compose (docker-compose.yml at the project root).
    #[arg(long)]
    pub docker: bool,
    /// Use local processes (binaries built with `cargo build --workspace --bins`).
    #[arg(long)]
    pub local: bool,
}

impl ModeArgs {
    /// The mode the user asked for, if any.
    pub fn requested(self) -> Option<Mode> {
        match (self.docker, self.local) {
            (true, _) => Some(Mode::Docker),
            (_, true) => Some(Mode::Local),
            _ => None,
        }
    }
}

/// Flags of `sidefx up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub mode: ModeArgs,
    /// Return once the stack is healthy and leave it running in the background
    /// (stop it with `sidefx down`). Without it, `up` stays in the foreground until Ctrl-C.
    #[arg(long, short)]
    pub detached: bool,
    /// Host port of the sidefx API (local mode: on 127.0.0.1; 0 picks a free one).
    #[arg(long, env = "SIDEFX_API_PORT", default_value_t = 8000)]
    pub api_port: u16,
    /// Host port of DriftQ (local mode: on 127.0.0.1; 0 picks a free one).
    #[arg(long, env = "SIDEFX_DRIFTQ_PORT", default_value_t = 8080)]
    pub driftq_port: u16,
    /// Seconds to wait for both health checks before giving up.
    #[arg(long, value_name = "SECONDS", default_value_t = 90)]
    pub timeout: u64,
    /// Local mode: how many worker processes to run (one consumer group; DriftQ spreads the
    /// commands over them).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=32))]
    pub workers: u32,
    /// The side effect the workers perform: write a ticket file, or charge the payments
    /// provider simulator (`provider` also starts `sidefx-provider` before the workers).
    #[arg(long, value_enum, default_value_t = EffectMode::Ticket)]
    pub effect: EffectMode,
    /// Provider mode: host port of the provider (local mode: on 127.0.0.1; 0 picks a free one).
    #[arg(long, env = "SIDEFX_PROVIDER_PORT", default_value_t = DEFAULT_PROVIDER_PORT)]
    pub provider_port: u16,
}

/// Flags of `sidefx down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub mode: ModeArgs,
    /// Also delete the DriftQ WAL, the SQLite store, the ticket artifacts and the provider's
    /// ledger (Docker: the compose volumes). Asks for confirmation unless --yes.
    #[arg(long)]
    pub wipe: bool,
    /// Do not ask before wiping (required when there is no terminal to ask on).
    #[arg(long, requires = "wipe")]
    pub yes: bool,
    /// Docker: also remove the images built for this stack (`--rmi local`).
    #[arg(long)]
    pub prune_images: bool,
}

/// Flags of `sidefx status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the report as one JSON object (`state`, `processes`, `health`, `workers`,
    /// `problems`).
    #[arg(long)]
    pub json: bool,
    /// The API's admin token, to list the workers (`GET /debug/workers`) of an API started
    /// with API_ADMIN_TOKEN.
    #[arg(
        long,
        env = "API_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
}
