//! `sidefx`: start and stop the stack (Docker or local processes), run the demos, check the
//! exactly-once proof (`verify`), try hard to break it (`torture`) and measure it (`bench`).
//! `main` only parses the command line and dispatches.

// This is the user interface: its output goes to the terminal on purpose.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod chaos;
mod charge_proof;
mod cli;
mod demo;
mod health;
mod load;
mod logs;
mod proof;
mod provider;
mod sse;
mod stack;
mod timeline;
mod torture;
mod ui;
mod verify;

use std::process::ExitCode;

use clap::Parser;

use cli::{ChaosCommand, Cli, Command};
use stack::DataDir;

#[tokio::main]
async fn main() -> ExitCode {
    ui::exit_quietly_on_closed_pipe();
    let style = ui::Style::detect();
    // `.env` in the working directory, as docker compose reads it; the real environment wins.
    // The services the local stack starts inherit what it sets.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("{} reading .env: {e}", style.err("error:"));
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    match run(cli, style).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{} {e:#}", style.err("error:"));
            ExitCode::FAILURE
        }
    }
}

/// Runs the command; most exit 0 on success, `verify`, `torture`, `bench` and `status`
/// choose their own code.
async fn run(cli: Cli, style: ui::Style) -> anyhow::Result<ExitCode> {
    let dir = DataDir::new(&cli.data_dir)?;
    let done = match cli.command {
        Command::Verify(args) => return verify::run(&dir, &args, style).await,
        Command::Torture(args) => return torture::run(&args, style).await,
        Command::Bench(args) => return bench::run(&dir, &args, style).await,
        Command::Status(args) => return stack::status::run(&dir, args.json, style).await,
        Command::Up(args) => stack::up(&dir, &args, style).await,
        Command::Down(args) => stack::down(&dir, &args, style).await,
        Command::Demo(args) => demo::run(&dir, &args, style).await,
        Command::Logs(args) => logs::run(&dir, &args, style).await,
        Command::Chaos(ChaosCommand::KillWorker(mode)) => {
            chaos::kill_worker(&dir, mode, style).await
        }
        Command::Chaos(ChaosCommand::StopWorker) => chaos::pause_workers(&dir, false, style).await,
        Command::Chaos(ChaosCommand::StartWorker) => chaos::pause_workers(&dir, true, style).await,
        Command::Supervise => {
            stack::supervisor::run(dir, stack::supervisor::termination_signal()).await
        }
    };
    done.map(|()| ExitCode::SUCCESS)
}
