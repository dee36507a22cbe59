//! The `sidefx` command line as a library: start and stop the stack (Docker or local
//! processes), run the demos, check the exactly-once proof (`verify`), try hard to break it
//! (`torture`) and measure it (`bench`). `src/main.rs` only reads `.env`, parses and calls
//! [`run`].
//!
//! Where things are: [`cli`] lists the commands; each command's module declares its own flags
//! (`demo`, `verify`, `logs`, `chaos`, `bench`, `torture`; `up`, `down` and `status` in
//! `stack`). `api_client` is how they talk to the API, `stack` how they start and inspect one.

// This is the user interface: its output goes to the terminal on purpose.
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod api_client;
mod bench;
mod chaos;
mod charge_proof;
pub mod cli;
mod demo;
mod dlq;
mod health;
mod load;
mod logs;
mod proof;
mod provider;
mod run_show;
mod runs;
mod sse;
mod stack;
mod timeline;
mod torture;
pub mod ui;
mod verify;

pub use cli::{Cli, run};

/// Reads `.env` in the working directory, as docker compose does; the real environment wins.
/// The services a local stack starts inherit what it sets. Call it before parsing the command
/// line: flags with `env = …` take their defaults from it.
pub fn load_dotenv() -> anyhow::Result<()> {
    match dotenvy::dotenv() {
        Err(e) if !e.not_found() => Err(anyhow::Error::new(e).context("reading .env")),
        _ => Ok(()),
    }
}
