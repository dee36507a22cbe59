//! Local mode: the stack as processes on this machine (no Docker). `up` records the plan in
//! the state file and hands over to the supervisor (in the foreground, or detached, which is
//! also how `sidefx torture` starts its stacks); `down` stops the recorded processes,
//! supervisor first.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::sync::Notify;

use super::effect::ProviderFaults;
use super::plan::LocalPlan;
use super::state::{LocalProcesses, RestartPolicy, StackState};
use super::{DataDir, DownArgs, Service, UpArgs, supervisor};
use crate::health;
use crate::ui::{Spinner, Style};

/// The supervisor stops up to four services, each with its own grace period: give it time for that.
const SUPERVISOR_GRACE: Duration = Duration::from_secs(25);
/// Grace for a service we stop by PID ourselves.
const SERVICE_GRACE: Duration = Duration::from_secs(5);

/// `sidefx up --local`.
pub async fn up(dir: &DataDir, args: &UpArgs, style: Style) -> Result<()> {
    let plan = LocalPlan {
        api_port: args.api_port,
        driftq_port: args.driftq_port,
        workers: args.workers,
        restart: RestartPolicy::Workers,
        effect: args.effect,
        provider_port: args.provider_port,
        provider_faults: ProviderFaults::default(),
    };
    let timeout = Duration::from_secs(args.timeout);
    if args.detached {
        let state = match plan.record_and_start(dir, &[], timeout, style).await {
            Ok(state) => state,
            Err(e) => {
                super::report::print_log_tails(dir, style);
                return Err(e);
            }
        };
        super::report::print_ready(dir, &state, style);
        Ok(())
    } else {
        let state = plan.record(dir, style)?;
        up_foreground(dir, &state, timeout, style).await
    }
}

/// Starts `sidefx supervise` for the stack recorded in `dir`, in its own process group (so
/// the terminal's Ctrl-C does not reach it), with `env` added to its environment (the services
/// inherit it) and its output in `supervisor.log`; waits until the stack is healthy. On
/// failure, stops whatever started.
pub async fn start_detached(
    dir: &DataDir,
    state: &StackState,
    env: &[(&str, String)],
    timeout: Duration,
) -> Result<()> {
    let log = super::launch::open_log(&dir.supervisor_log())?;
    let exe = std::env::current_exe().context("cannot find the sidefx executable")?;
    let mut child = std::process::Command::new(exe)
        .arg("--data-dir")
        .arg(dir.root())
        .arg("supervise")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("cannot start the supervisor")?;
    let waited = health::wait_all(&super::health_checks(state), timeout, || {
        match child.try_wait() {
            Ok(Some(status)) => bail!("the supervisor exited ({status})"),
            _ => Ok(()),
        }
    })
    .await;
    if let Err(e) = waited {
        stop_child(&mut child).await;
        stop(dir, state).await?;
        return Err(e.context(format!(
            "the local stack did not start (logs in {})",
            dir.root().display()
        )));
    }
    Ok(())
}

/// Stops the supervisor we just started (it is our unreaped child, so its PID is still its own).
async fn stop_child(child: &mut std::process::Child) {
    let pid = i32::try_from(child.id()).map(nix::unistd::Pid::from_raw);
    if let Ok(pid) = pid {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
    let deadline = std::time::Instant::now() + SUPERVISOR_GRACE;
    while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs the supervisor in this process until Ctrl-C / SIGTERM.
async fn up_foreground(
    dir: &DataDir,
    state: &StackState,
    timeout: Duration,
    style: Style,
) -> Result<()> {
    let stop_now = Arc::new(Notify::new());
    let stop_signal = Arc::clone(&stop_now);
    let shutdown = async move {
        tokio::select! {
            () = sidefx_core::shutdown_signal() => {}
            () = stop_signal.notified() => {}
        }
    };
    // The services' own lines, prefixed by service, under the supervisor's (like compose).
    let streaming = super::log_files::stream_from_now(dir, &state.services(), style);
    let supervisor = supervisor::run(dir.clone(), shutdown);
    tokio::pin!(supervisor);
    let checks = super::health_checks(state);
    tokio::select! {
        result = &mut supervisor => {
            streaming.abort();
            return result.context("the local stack stopped before it was healthy");
        }
        result = health::wait_all(&checks, timeout, || Ok(())) => {
            if let Err(e) = result {
                stop_now.notify_one();
                let _ = supervisor.await;
                streaming.abort();
                super::report::print_log_tails(dir, style);
                return Err(e.context("the local stack did not start"));
            }
        }
    }
    super::report::print_ready(dir, state, style);
    println!(
        "{}",
        style.dim("Running in the foreground: Ctrl-C stops the stack.")
    );
    let result = supervisor.await;
    streaming.abort();
    result
}

/// `sidefx down` for a local stack.
pub async fn down(
    dir: &DataDir,
    args: &DownArgs,
    state: Option<&StackState>,
    style: Style,
) -> Result<()> {
    if args.prune_images {
        println!(
            "{}",
            style.dim("--prune-images: local mode builds no images, nothing to prune")
        );
    }
    match state {
        Some(state) => {
            stop(dir, state).await?;
            println!("{} Stack is down.", style.ok("✔"));
        }
        None => println!(
            "No stack recorded in {} — nothing to stop.",
            dir.root().display()
        ),
    }
    if args.wipe {
        wipe(dir, style)?;
    }
    Ok(())
}

/// Stops the supervisor (which stops its services in order and restarts nothing while it
/// stops), then any recorded service still alive (e.g. after the supervisor was SIGKILLed).
pub async fn stop(dir: &DataDir, state: &StackState) -> Result<()> {
    let recorded = state
        .local
        .as_ref()
        .context("the state file records no local processes")?;
    let mut spinner = Spinner::start("stopping the local stack");
    // The supervisor records itself, and restarts the worker, after `state` was read: use the
    // newest record as well.
    let newest = StackState::load(dir)?.and_then(|s| s.local);
    spinner.tick("supervisor");
    let supervisors = [
        newest.as_ref().and_then(|n| n.supervisor.as_ref()),
        recorded.supervisor.as_ref(),
    ];
    for supervisor in supervisors.into_iter().flatten() {
        supervisor.terminate(SUPERVISOR_GRACE).await;
    }
    for service in [
        Service::Worker,
        Service::Api,
        Service::Provider,
        Service::Driftq,
    ] {
        spinner.tick(service.name());
        let records = [
            newest.as_ref().and_then(|n| n.service(service)),
            recorded.service(service),
        ];
        for record in records.into_iter().flatten() {
            record.terminate(SERVICE_GRACE).await;
        }
    }
    // Workers 2..N, from the newest record (the supervisor started them).
    for record in newest.iter().flat_map(LocalProcesses::worker_records) {
        record.terminate(SERVICE_GRACE).await;
    }
    spinner.finish();
    StackState::remove(dir)
}

/// Deletes the WAL, the store, the artifacts and the provider's ledger of the data dir.
pub fn wipe(dir: &DataDir, style: Style) -> Result<()> {
    for target in dir.wipe_targets() {
        match std::fs::remove_dir_all(&target) {
            Ok(()) => println!("{} deleted {}", style.ok("✔"), target.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot delete {}", target.display())),
        }
    }
    Ok(())
}

/// Kills a throwaway stack at once (SIGKILL), for `Drop` guards that cannot wait for a clean
/// `stop`: the supervisor first, so it restarts nothing, then every service it recorded. The
/// state file is read again because the supervisor records restarted services' new PIDs;
/// `fallback` is used if it cannot be read. Each PID is checked to still be ours.
pub fn kill_now(dir: &DataDir, fallback: &StackState) {
    let state = StackState::load(dir)
        .ok()
        .flatten()
        .unwrap_or_else(|| fallback.clone());
    let Some(local) = state.local.as_ref() else {
        return;
    };
    // The supervisor comes first in the list, so it restarts nothing.
    for record in local
        .non_worker_records()
        .into_iter()
        .chain(local.worker_records())
    {
        record.signal_if_ours(nix::sys::signal::Signal::SIGKILL);
    }
}
