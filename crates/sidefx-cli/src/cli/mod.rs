//! The command line, declared with clap: the global flags, the list of commands and their
//! `--help` summaries, and [`run`], which hands each command its own flags. Each command
//! declares its flags next to its code (`demo/args.rs`, `stack/args.rs`, …), so nothing
//! imports this module back.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::bench::BenchArgs;
use crate::chaos::ChaosCommand;
use crate::demo::DemoArgs;
use crate::dlq::DlqCommand;
use crate::logs::LogsArgs;
use crate::runs::RunsCommand;
use crate::stack::{DataDir, DownArgs, StatusArgs, UpArgs};
use crate::torture::TortureArgs;
use crate::ui::Style;
use crate::verify::VerifyArgs;
use crate::{bench, chaos, demo, dlq, logs, runs, stack, torture, verify};

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
    Torture(TortureArgs),
    /// Measure the stack: submit N runs (at concurrency C, or at an offered --rate), wait for
    /// every done side-effect row, print runs/s, latency percentiles and per-process CPU and
    /// peak RSS.
    ///
    /// Against a running stack (--api, default the recorded one) or a throwaway one
    /// (--local). Exits non-zero if any run did not complete. For the figures, build with
    /// `cargo build --release --workspace --bins` and run `target/release/sidefx bench --local`.
    Bench(BenchArgs),
    /// The API's runs: `sidefx runs list [--status S] [--business-key K] [--json]`, and
    /// `sidefx runs show ID [--follow] [--json]` (one run and its timeline).
    #[command(subcommand)]
    Runs(RunsCommand),
    /// The dead-lettered runs: `sidefx dlq list`, `sidefx dlq redrive ID… | --all`,
    /// `sidefx dlq discard ID --reason R`.
    ///
    /// Exits 0 when everything asked for was done, 1 when the API refused an action on a run
    /// (printing why), 2 when the API cannot be reached or refuses the request.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Run the local supervisor in this process (used by `sidefx up --local --detached`).
    #[command(hide = true)]
    Supervise,
}

/// Runs the command; most exit 0 on success, `verify`, `torture`, `bench` and `status`
/// choose their own code.
pub async fn run(cli: Cli, style: Style) -> anyhow::Result<ExitCode> {
    let dir = DataDir::new(&cli.data_dir)?;
    let done = match cli.command {
        Command::Verify(args) => return verify::run(&dir, &args, style).await,
        Command::Torture(args) => return torture::run(&args, style).await,
        Command::Bench(args) => return bench::run(&dir, &args, style).await,
        Command::Runs(command) => return runs::run(&dir, &command, style).await,
        Command::Dlq(command) => return dlq::run(&dir, &command, style).await,
        Command::Status(args) => return stack::status::run(&dir, &args, style).await,
        Command::Up(args) => stack::up(&dir, &args, style).await,
        Command::Down(args) => stack::down(&dir, &args, style).await,
        Command::Demo(args) => demo::run(&dir, &args, style).await,
        Command::Logs(args) => logs::run(&dir, &args, style).await,
        Command::Chaos(ChaosCommand::KillWorker(mode)) => {
            chaos::kill_worker(&dir, mode, style).await
        }
        Command::Chaos(ChaosCommand::StopWorker) => chaos::pause_workers(&dir, false, style).await,
        Command::Chaos(ChaosCommand::StartWorker) => chaos::pause_workers(&dir, true, style).await,
        Command::Supervise => stack::supervisor::run(dir, sidefx_core::shutdown_signal()).await,
    };
    done.map(|()| ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests;
