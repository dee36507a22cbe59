//! `sidefx`, the command line of the stack: everything is in the library (`src/lib.rs`);
//! `main` reads `.env`, parses the command line, runs the command and maps errors to exit 1.

use std::process::ExitCode;

use clap::Parser;
use sidefx_cli::{Cli, ui};

#[tokio::main]
async fn main() -> ExitCode {
    ui::exit_quietly_on_closed_pipe();
    let style = ui::Style::detect();
    let outcome = match sidefx_cli::load_dotenv() {
        Ok(()) => sidefx_cli::run(Cli::parse(), style).await,
        Err(e) => Err(e),
    };
    outcome.unwrap_or_else(|e| ui::print_error(&e, style))
}
