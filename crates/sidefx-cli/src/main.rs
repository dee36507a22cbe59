//! `sidefx`: start and stop the stack (Docker or local processes), run the demos and check the
//! exactly-once proof. `main` only parses the command line and dispatches.

// This is the user interface: its output goes to the terminal on purpose.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod chaos;
mod cli;
mod demo;
mod health;
mod logs;
mod proof;
mod sse;
mod stack;
mod timeline;
mod ui;

use std::process::ExitCode;

use clap::Parser;

use cli::{ChaosCommand, Cli, Command};
use stack::DataDir;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let style = ui::Style::detect();
    match run(cli, style).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{} {e:#}", style.err("error:"));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, style: ui::Style) -> anyhow::Result<()> {
    let dir = DataDir::new(&cli.data_dir)?;
    match cli.command {
        Command::Up(args) => stack::up(&dir, &args, style).await,
        Command::Down(args) => stack::down(&dir, &args, style).await,
        Command::Status => stack::report::status(&dir, style).await,
        Command::Demo(args) => demo::run(&dir, &args, style).await,
        Command::Logs(args) => logs::run(&dir, &args, style).await,
        Command::Chaos(ChaosCommand::KillWorker(mode)) => {
            chaos::kill_worker(&dir, mode, style).await
        }
        Command::Supervise => {
            stack::supervisor::run(dir, stack::supervisor::termination_signal()).await
        }
    }
}
