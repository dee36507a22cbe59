//! The local supervisor: starts driftq-local, then the API and the worker, restarts the worker
//! whenever it exits (compose's `restart: unless-stopped`; exit code 137 is the worker's
//! deliberate chaos crash), and on SIGTERM/Ctrl-C stops worker, API and DriftQ in that order.
//! If DriftQ or the API dies, it stops everything rather than leave a half stack running.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tokio::process::Child;

use super::launch::{Ports, open_log, service_command};
use super::state::{ProcessRecord, StackState};
use super::{DataDir, Service};
use crate::health::{self, HealthCheck};

/// Grace between SIGTERM and SIGKILL for each service.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long DriftQ may take to answer its health check before the others start.
const DRIFTQ_START: Duration = Duration::from_secs(30);
/// A worker that ran this long before exiting starts again without delay.
const STABLE_RUN: Duration = Duration::from_secs(10);
/// Cap of the restart delay for a worker that keeps exiting quickly.
const MAX_RESTART_DELAY: Duration = Duration::from_secs(5);

type Shutdown<'a> = Pin<&'a mut (dyn Future<Output = ()> + Send)>;

/// Runs the stack recorded in `dir` until `shutdown` completes or a service other than the
/// worker dies. Removes the state file when it is done.
pub async fn run(dir: DataDir, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
    let mut state =
        StackState::load(&dir)?.context("no stack recorded: start it with `sidefx up --local`")?;
    let local = state
        .local
        .as_mut()
        .context("the recorded stack is not a local one")?;
    local.supervisor = Some(ProcessRecord::current()?);
    state.save(&dir)?;
    let mut shutdown = std::pin::pin!(shutdown);
    let mut stack = Supervised {
        dir,
        state,
        children: Vec::new(),
        worker_started: Instant::now(),
    };
    let result = stack.start_and_watch(shutdown.as_mut()).await;
    stack.stop_all().await;
    StackState::remove(&stack.dir)?;
    match &result {
        Ok(()) => say("stack stopped"),
        Err(e) => say(&format!("stack stopped: {e:#}")),
    }
    result
}

/// SIGTERM or Ctrl-C, whichever comes first.
pub async fn termination_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// A supervisor message, with a timestamp (its stdout is `supervisor.log` when detached).
fn say(message: &str) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    println!("[sidefx supervisor] t={secs} {message}");
}

struct Supervised {
    dir: DataDir,
    state: StackState,
    /// Running services, in start order.
    children: Vec<(Service, Child)>,
    worker_started: Instant,
}

impl Supervised {
    async fn start_and_watch(&mut self, mut shutdown: Shutdown<'_>) -> Result<()> {
        // The services create their files, not their directories (neither does the real broker).
        for dir in [self.dir.wal_path(), self.dir.db_path()]
            .iter()
            .filter_map(|p| p.parent().map(Path::to_path_buf))
            .chain([self.dir.artifacts_dir()])
        {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        self.start(Service::Driftq)?;
        let driftq_ready = HealthCheck {
            name: "DriftQ",
            url: format!("{}/v1/healthz", self.state.driftq_url),
        };
        tokio::select! {
            () = shutdown.as_mut() => return Ok(()),
            ready = health::wait_all(std::slice::from_ref(&driftq_ready), DRIFTQ_START, || Ok(())) => ready?,
            exited = first_exit(&mut self.children) => {
                let (service, status) = exited?;
                bail!("{} exited ({status}); see {}", service.name(), self.dir.log_file(service).display());
            }
        }
        self.start(Service::Api)?;
        self.start(Service::Worker)?;
        say(&format!(
            "stack running: API {} DriftQ {}",
            self.state.api_url, self.state.driftq_url
        ));
        self.watch(shutdown).await
    }

    /// Waits for the first service to exit (or the shutdown) and reacts.
    async fn watch(&mut self, mut shutdown: Shutdown<'_>) -> Result<()> {
        let mut quick_exits = 0u32;
        loop {
            let exited = tokio::select! {
                () = shutdown.as_mut() => return Ok(()),
                exited = first_exit(&mut self.children) => exited,
            };
            let (service, status) = exited?;
            if service != Service::Worker {
                bail!(
                    "{} exited ({status}); see {}",
                    service.name(),
                    self.dir.log_file(service).display()
                );
            }
            let ran = self.worker_started.elapsed();
            quick_exits = if ran >= STABLE_RUN {
                0
            } else {
                quick_exits + 1
            };
            self.note_worker_exit(status);
            let delay = restart_delay(quick_exits);
            tokio::select! {
                () = shutdown.as_mut() => return Ok(()),
                () = tokio::time::sleep(delay) => {}
            }
            self.start(Service::Worker)?;
        }
    }

    fn note_worker_exit(&mut self, status: std::process::ExitStatus) {
        let why = if status.code() == Some(137) {
            "exit code 137: a deliberate chaos crash (fail_mode)".to_owned()
        } else {
            status.to_string()
        };
        let line = format!("worker exited ({why}); restarting it");
        say(&line);
        // Also in worker.log, where people look for it (like `docker compose logs worker`).
        if let Ok(mut log) = open_log(&self.dir.log_file(Service::Worker)) {
            use std::io::Write;
            let _ = writeln!(log, "[sidefx supervisor] {line}");
        }
        if let Some(local) = self.state.local.as_mut() {
            local.worker_restarts += 1;
        }
    }

    /// Spawns one service with its output appended to `<service>.log` and records its PID.
    fn start(&mut self, service: Service) -> Result<()> {
        let ports = self.state_ports();
        let local = self
            .state
            .local
            .as_ref()
            .context("no local processes in the state")?;
        let program = local.binaries.of(service).to_path_buf();
        let mut command = service_command(service, &local.binaries, &self.dir, &ports);
        let log = open_log(&self.dir.log_file(service))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Own process group: a Ctrl-C in the terminal reaches the supervisor only, which
            // then stops the services in order (and does not restart a worker it is stopping).
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("{} exited at once", service.name()))?;
        say(&format!("started {} pid={pid}", service.name()));
        let local = self
            .state
            .local
            .as_mut()
            .context("no local processes in the state")?;
        local.set_service(service, Some(ProcessRecord { pid, program }));
        self.state.save(&self.dir)?;
        if service == Service::Worker {
            self.worker_started = Instant::now();
        }
        self.children.push((service, child));
        Ok(())
    }

    fn state_ports(&self) -> Ports {
        Ports {
            api: self.state.api_port,
            driftq: self.state.driftq_port,
            driftq_url: self.state.driftq_url.clone(),
        }
    }

    /// Worker first (it holds leases), then the API, then DriftQ: SIGTERM, grace, SIGKILL.
    async fn stop_all(&mut self) {
        while let Some((service, mut child)) = self.children.pop() {
            if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            if tokio::time::timeout(STOP_GRACE, child.wait())
                .await
                .is_err()
            {
                say(&format!(
                    "{} did not stop within {}s; killing it",
                    service.name(),
                    STOP_GRACE.as_secs()
                ));
                let _ = child.kill().await;
            }
        }
    }
}

/// Waits until one of the children exits and takes it out of the list.
/// (`Child::wait` is cancel safe, so dropping this inside `select!` loses nothing.)
async fn first_exit(
    children: &mut Vec<(Service, Child)>,
) -> Result<(Service, std::process::ExitStatus)> {
    let (index, status) = {
        let mut waits: Vec<_> = children
            .iter_mut()
            .map(|(_, child)| Box::pin(child.wait()))
            .collect();
        std::future::poll_fn(|cx| {
            for (index, wait) in waits.iter_mut().enumerate() {
                if let std::task::Poll::Ready(status) = wait.as_mut().poll(cx) {
                    return std::task::Poll::Ready((index, status));
                }
            }
            std::task::Poll::Pending
        })
        .await
    };
    let (service, _) = children.remove(index);
    Ok((
        service,
        status.with_context(|| format!("cannot wait for {}", service.name()))?,
    ))
}

/// 0 for the first quick exit (a chaos crash should recover fast), then 100 ms doubling to 5 s.
fn restart_delay(quick_exits: u32) -> Duration {
    if quick_exits <= 1 {
        return Duration::ZERO;
    }
    let exponent = (quick_exits - 2).min(10);
    (Duration::from_millis(100) * 2u32.pow(exponent)).min(MAX_RESTART_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crashed_worker_restarts_at_once_then_backs_off() {
        assert_eq!(restart_delay(0), Duration::ZERO);
        assert_eq!(restart_delay(1), Duration::ZERO);
        assert_eq!(restart_delay(2), Duration::from_millis(100));
        assert_eq!(restart_delay(3), Duration::from_millis(200));
        assert_eq!(restart_delay(40), MAX_RESTART_DELAY);
    }
}
