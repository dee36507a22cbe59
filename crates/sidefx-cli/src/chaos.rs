//! `sidefx chaos kill-worker`: SIGKILL the worker, like a crash or an OOM kill, to watch DriftQ
//! redeliver and the store keep the side effect exactly once. `stop-worker` / `start-worker`
//! (local mode) keep the workers away for a while, to watch commands queue up in DriftQ.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;

use crate::stack::state::StackState;
use crate::stack::{DataDir, Mode, ModeArgs, docker, require_mode};
use crate::ui::Style;

/// `sidefx chaos …`
// The variants are the subcommand names (`kill-worker`, `stop-worker`, `start-worker`).
#[allow(clippy::enum_variant_names)]
#[derive(Debug, clap::Subcommand)]
pub enum ChaosCommand {
    /// SIGKILL the worker, as a crash would. The supervisor (local) or compose's restart
    /// policy (Docker) starts it again; DriftQ redelivers whatever it had not acked.
    KillWorker(ModeArgs),
    /// Local mode: stop the workers and keep them stopped (commands queue up in DriftQ).
    StopWorker,
    /// Local mode: start the workers stopped by `stop-worker` again.
    StartWorker,
}

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

/// How long the supervisor may take to stop or start the workers.
const WORKERS_TIMEOUT: Duration = Duration::from_secs(30);

/// `sidefx chaos stop-worker` (`start == false`) and `start-worker`: asks the local supervisor
/// (SIGUSR1 / SIGUSR2) and waits until its state file shows the workers stopped or running.
pub async fn pause_workers(dir: &DataDir, start: bool, style: Style) -> Result<()> {
    let state = StackState::load(dir)?.context("no stack recorded: start one with `sidefx up`")?;
    let local = state
        .local
        .as_ref()
        .context("stop-worker and start-worker need a local stack (`sidefx up --local`)")?;
    let supervisor = local
        .supervisor
        .as_ref()
        .context("the local stack has no supervisor")?;
    let signal = if start {
        Signal::SIGUSR2
    } else {
        Signal::SIGUSR1
    };
    if !supervisor.signal_if_ours(signal) {
        bail!("the supervisor (pid {}) is not running", supervisor.pid);
    }
    let deadline = Instant::now() + WORKERS_TIMEOUT;
    while !workers_are(dir, start)? {
        if Instant::now() >= deadline {
            bail!(
                "the workers did not {} within {}s; see `sidefx logs`",
                if start { "start" } else { "stop" },
                WORKERS_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let what = if start {
        "started again"
    } else {
        "stopped (commands queue up in DriftQ)"
    };
    println!("{} workers {what}", style.ok("✔"));
    Ok(())
}

/// The state file shows every worker running (`running`) or paused with none alive.
fn workers_are(dir: &DataDir, running: bool) -> Result<bool> {
    let Some(local) = StackState::load(dir)?.and_then(|s| s.local) else {
        bail!("the stack stopped");
    };
    let alive = local
        .worker_records()
        .iter()
        .filter(|r| r.is_ours())
        .count();
    Ok(if running {
        !local.workers_paused && alive == local.workers.max(1) as usize
    } else {
        local.workers_paused && alive == 0
    })
}
