//! The command line, declared with clap: every command, flag and `--help` text lives here
//! (the many size flags of `sidefx torture` in `torture/args.rs`), so `sidefx <command> --help`
//! and these files always agree.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::demo::Scenario;
use crate::stack::effect::{DEFAULT_PROVIDER_PORT, EffectMode};
use crate::stack::{Mode, Service};

/// Run the sidefx stack (DriftQ + API + worker) and prove that retries never duplicate a side effect.
#[derive(Debug, Parser)]
#[command(name = "sidefx", version, propagate_version = true)]
#[command(after_help = "Start with `sidefx up`, then `sidefx demo run` and `sidefx demo crash`.")]
pub struct Cli {
    /// Directory for this stack's state file and logs (and, in local mode, its WAL, SQLite store
    /// and artifacts). Use a different one to run two local stacks side by side.
    #[arg(
        long,
        global = true,
        env = "SIDEFX_DATA_DIR",
        default_value = ".sidefx"
    )]
    pub data_dir: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of `sidefx`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the stack and wait until DriftQ and the API are healthy.
    ///
    /// Docker mode runs `docker compose up --build`. Local mode starts the `driftq-local`,
    /// `sidefx-api` and `sidefx-worker` binaries (next to `sidefx`, else on `PATH`) under a
    /// small supervisor that restarts the worker whenever it exits, like compose's
    /// `restart: unless-stopped`. Without a mode flag: Docker when `docker compose` works, else local.
    Up(UpArgs),
    /// Stop the stack started by `sidefx up` (and optionally delete its data).
    Down(DownArgs),
    /// Show the recorded stack: every process (each worker) with its restarts and last exit,
    /// and the health checks.
    ///
    /// Exits 0 when the stack is healthy; 1 when a process is down or crash-looping, a health
    /// check fails, or the stack stopped on its own (the reason is quoted from the logs); 3
    /// when no stack is running.
    Status(StatusArgs),
    /// Run one of the demos against the API and check the exactly-once proof.
    ///
    /// Creates a run with a fresh business key, prints its event timeline live (SSE), then checks
    /// that the run left exactly one side-effect row and one ticket file. Exits non-zero if it
    /// did not, or if the run does not finish within --timeout.
    Demo(DemoArgs),
    /// Print (or follow) the logs of the stack's services.
    Logs(LogsArgs),
    /// Break things on purpose, to watch the stack recover.
    #[command(subcommand)]
    Chaos(ChaosCommand),
    /// Check the exactly-once invariants of a running stack (`GET /debug/verify`).
    ///
    /// Exits 0 when every invariant holds, 1 when one is violated (each violation is listed),
    /// 2 when the API cannot be reached.
    Verify(VerifyArgs),
    /// Start throwaway local stacks and try hard to make a side effect happen twice or get
    /// lost: crash points x worker counts, a kill storm, DriftQ and API restarts under load.
    ///
    /// Prints one table row per scenario and exits non-zero on any duplicate, any lost run,
    /// or a verify that is not clean. Needs the binaries of `cargo build --workspace --bins`
    /// (use `--release` for large sizes).
    Torture(crate::torture::TortureArgs),
    /// Measure the stack: submit N runs (at concurrency C, or at an offered --rate), wait for
    /// every done side-effect row, print runs/s, latency percentiles and per-process CPU and
    /// peak RSS.
    ///
    /// Against a running stack (--api, default the recorded one) or a throwaway one
    /// (--local). Exits non-zero if any run did not complete. For the figures, build with
    /// `cargo build --release --workspace --bins` and run `target/release/sidefx bench --local`.
    Bench(crate::bench::BenchArgs),
    /// Run the local supervisor in this process (used by `sidefx up --local --detached`).
    #[command(hide = true)]
    Supervise,
}

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

/// The token of an API started with `API_ADMIN_TOKEN` (its `/debug/*` routes need it).
#[derive(Debug, Clone, Default, Args)]
pub struct AdminArgs {
    /// Bearer token for the API's admin routes (`/debug/*`, `/metrics`), when the API was
    /// started with API_ADMIN_TOKEN. Unset: none is sent (the local default is open).
    #[arg(
        long,
        env = "API_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
}

impl AdminArgs {
    /// An HTTP client that sends the token (if any) with every request, and gives up
    /// connecting after 3 s.
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = self.admin_token.as_deref().filter(|t| !t.is_empty()) {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| anyhow::anyhow!("API_ADMIN_TOKEN is not a valid header value"))?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        Ok(reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(3))
            .default_headers(headers)
            .build()?)
    }
}

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

/// Flags of `sidefx status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the report as one JSON object (`state`, `processes`, `health`, `problems`).
    #[arg(long)]
    pub json: bool,
}

/// Flags of `sidefx logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Only this service (default: all of them).
    #[arg(value_enum)]
    pub service: Option<Service>,
    /// Keep printing new lines as they are written (Ctrl-C to stop).
    #[arg(long, short)]
    pub follow: bool,
    /// Only the last N lines of each service (then, with -f, the new ones).
    #[arg(long, short = 'n', value_name = "N")]
    pub tail: Option<usize>,
    /// Only lines written in the last DURATION: `90s`, `10m`, `2h`, `1d` (a plain number is
    /// seconds).
    #[arg(long, value_name = "DURATION", value_parser = crate::logs::parse_duration)]
    pub since: Option<std::time::Duration>,
    #[command(flatten)]
    pub mode: ModeArgs,
}

/// `sidefx chaos …`
// The variants are the subcommand names (`kill-worker`, `stop-worker`, `start-worker`).
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Subcommand)]
pub enum ChaosCommand {
    /// SIGKILL the worker, as a crash would. The supervisor (local) or compose's restart
    /// policy (Docker) starts it again; DriftQ redelivers whatever it had not acked.
    KillWorker(ModeArgs),
    /// Local mode: stop the workers and keep them stopped (commands queue up in DriftQ).
    StopWorker,
    /// Local mode: start the workers stopped by `stop-worker` again.
    StartWorker,
}

#[cfg(test)]
mod tests;
