//! `sidefx chaos kill-worker`: SIGKILL the worker, like a crash or an OOM kill, to watch DriftQ
//! redeliver and the store keep the side effect exactly once.

use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;

use crate::cli::ModeArgs;
use crate::stack::state::StackState;
use crate::stack::{DataDir, Mode, docker, require_mode};
use crate::ui::Style;

/// Kills the worker of the stack in `dir` (local: by its recorded PID, verified first).
pub async fn kill_worker(dir: &DataDir, mode: ModeArgs, style: Style) -> Result<()> {
    let state = StackState::load(dir)?;
    if require_mode(dir, mode, state.as_ref())? == Mode::Docker {
        docker::kill_worker(state.as_ref()).await?;
        println!(
            "{} worker killed (SIGKILL); compose restarts it (restart: unless-stopped)",
            style.ok("✔")
        );
        return Ok(());
    }
    let local = state
        .as_ref()
        .and_then(|s| s.local.as_ref())
        .context("no local stack recorded")?;
    let worker = local
        .worker
        .as_ref()
        .context("the worker has not been started")?;
    if !worker.signal_if_ours(Signal::SIGKILL) {
        bail!(
            "the worker (pid {}) is not running; is the stack up? see `sidefx status`",
            worker.pid
        );
    }
    println!(
        "{} worker pid {} killed (SIGKILL); the supervisor restarts it",
        style.ok("✔"),
        worker.pid
    );
    println!("{}", style.dim("  watch it: sidefx logs worker -f"));
    Ok(())
}
