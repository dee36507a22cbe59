//! The local supervisor: starts driftq-local (and in provider mode sidefx-provider), then the
//! API and the workers, restarts a worker
//! whenever it exits (compose's `restart: unless-stopped`; exit code 137 is the worker's
//! deliberate chaos crash), and on SIGTERM/Ctrl-C stops workers, API and DriftQ in that order.
//! If DriftQ, the provider or the API dies, it stops everything rather than leave a half stack running,
//! unless the stack's [`RestartPolicy`] is `Every`. SIGUSR1 stops the workers, SIGUSR2
//! starts them again (`sidefx chaos stop-worker` / `start-worker`).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use super::children::{Children, Slot};
use super::restart::Restarts;

mod spawn;
mod workers;
use super::state::{LocalProcesses, ProcessRecord, RestartPolicy, StackState};
use super::{DataDir, Service};
use crate::health::{self, HealthCheck};
use anyhow::{Context, Result, bail};

/// How long DriftQ (and the provider) may take to answer its health check before the others start.
const SERVICE_START: Duration = Duration::from_secs(30);

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
        children: Children::default(),
        workers: Vec::new(),
        driftq: Restarts::new(),
        provider: Restarts::new(),
        api: Restarts::new(),
    };
    let result = stack.start_and_watch(shutdown.as_mut()).await;
    // Workers first (they hold leases), then the API, then DriftQ.
    stack.children.stop_where(|_| true, say).await;
    StackState::remove(&stack.dir)?;
    match &result {
        Ok(()) => say("stack stopped"),
        Err(e) => say(&format!("stack stopped: {e:#}")),
    }
    result
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
    children: Children,
    /// When each worker (by index) last started, and how often in a row it exited quickly.
    workers: Vec<Restarts>,
    /// The same for DriftQ, the provider and the API (restarted only under
    /// [`RestartPolicy::Every`]).
    driftq: Restarts,
    provider: Restarts,
    api: Restarts,
}

/// What woke the supervisor up.
enum Event {
    Shutdown,
    /// SIGUSR1 (`sidefx chaos stop-worker`).
    PauseWorkers,
    /// SIGUSR2 (`sidefx chaos start-worker`).
    ResumeWorkers,
    Exited(Slot, std::process::ExitStatus),
}

impl Supervised {
    fn local(&self) -> Result<&LocalProcesses> {
        self.state
            .local
            .as_ref()
            .context("no local processes in the state")
    }

    fn local_mut(&mut self) -> Result<&mut LocalProcesses> {
        self.state
            .local
            .as_mut()
            .context("no local processes in the state")
    }

    fn worker_count(&self) -> usize {
        self.local().map_or(1, |l| l.workers.max(1) as usize)
    }

    async fn start_and_watch(&mut self, mut shutdown: Shutdown<'_>) -> Result<()> {
        self.create_dirs()?;
        let driftq_ready = HealthCheck {
            name: "DriftQ",
            url: format!("{}/v1/healthz", self.state.driftq_url),
        };
        if !self
            .start_ready(Service::Driftq, driftq_ready, shutdown.as_mut())
            .await?
        {
            return Ok(());
        }
        // Before the workers: their first command may charge it.
        if let Some(provider) = &self.state.provider {
            let provider_ready = HealthCheck {
                name: "provider",
                url: format!("{}/healthz", provider.url),
            };
            if !self
                .start_ready(Service::Provider, provider_ready, shutdown.as_mut())
                .await?
            {
                return Ok(());
            }
        }
        self.start(Slot::single(Service::Api))?;
        if !self.local()?.workers_paused {
            self.start_workers()?;
        }
        say(&format!(
            "stack running: API {} DriftQ {}",
            self.state.api_url, self.state.driftq_url
        ));
        self.watch(shutdown).await
    }

    /// The services create their files, not their directories (neither does the real broker).
    fn create_dirs(&self) -> Result<()> {
        let files = [self.dir.wal_path(), self.dir.db_path()].into_iter().chain(
            self.state
                .provider
                .as_ref()
                .map(|_| self.dir.provider_db_path()),
        );
        for dir in files
            .filter_map(|p| p.parent().map(Path::to_path_buf))
            .chain([self.dir.artifacts_dir()])
        {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Ok(())
    }

    /// Starts `service` and waits until `ready` passes; false when the shutdown came first.
    async fn start_ready(
        &mut self,
        service: Service,
        ready: HealthCheck,
        mut shutdown: Shutdown<'_>,
    ) -> Result<bool> {
        self.start(Slot::single(service))?;
        tokio::select! {
            () = shutdown.as_mut() => Ok(false),
            ready = health::wait_all(std::slice::from_ref(&ready), SERVICE_START, || Ok(())) => ready.map(|()| true),
            exited = self.children.first_exit() => {
                let (slot, status) = exited?;
                bail!("{} exited ({status}); see {}", slot.label(), self.dir.log_file(slot.service).display());
            }
        }
    }

    fn start_workers(&mut self) -> Result<()> {
        for index in 0..self.worker_count() {
            self.start(Slot::worker(index))?;
        }
        Ok(())
    }

    /// Waits for the first service to exit, a pause/resume signal, or the shutdown, and reacts.
    async fn watch(&mut self, mut shutdown: Shutdown<'_>) -> Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut pause = signal(SignalKind::user_defined1()).context("cannot watch SIGUSR1")?;
        let mut resume = signal(SignalKind::user_defined2()).context("cannot watch SIGUSR2")?;
        loop {
            let event = tokio::select! {
                () = shutdown.as_mut() => Event::Shutdown,
                _ = pause.recv() => Event::PauseWorkers,
                _ = resume.recv() => Event::ResumeWorkers,
                exited = self.children.first_exit() => {
                    let (slot, status) = exited?;
                    Event::Exited(slot, status)
                }
            };
            match event {
                Event::Shutdown => return Ok(()),
                Event::PauseWorkers => self.pause_workers().await?,
                Event::ResumeWorkers => self.resume_workers()?,
                Event::Exited(slot, status) => {
                    let Some(delay) = self.on_exit(slot, status)? else {
                        continue;
                    };
                    tokio::select! {
                        () = shutdown.as_mut() => return Ok(()),
                        () = tokio::time::sleep(delay) => {}
                    }
                    self.start(slot)?;
                }
            }
        }
    }

    /// Decides what an exit means: `Some(delay)` to restart the slot after `delay`, `None` to
    /// leave it stopped, an error to stop the stack.
    fn on_exit(
        &mut self,
        slot: Slot,
        status: std::process::ExitStatus,
    ) -> Result<Option<Duration>> {
        let policy = self.local()?.restart;
        if slot.service != Service::Worker {
            if policy != RestartPolicy::Every {
                bail!(
                    "{} exited ({status}); see {}",
                    slot.label(),
                    self.dir.log_file(slot.service).display()
                );
            }
            say(&format!(
                "{} exited ({status}); restarting it",
                slot.label()
            ));
        } else if self.local()?.workers_paused {
            return Ok(None);
        } else {
            self.note_worker_exit(slot, status);
        }
        let delay = self.restarts_of(slot).exited(policy);
        self.record_exit(slot, status)?;
        Ok(Some(delay))
    }
}
