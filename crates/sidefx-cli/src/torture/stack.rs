//! One throwaway local stack per scenario: free ports, its own data dir, every service
//! restarted at once when it dies (kills are the test), a short lease so redeliveries come
//! quickly. Kills go by the PIDs the supervisor records, checked to still be ours.

use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::signal::Signal;
use rand::seq::IndexedRandom;

use super::executions::{self, Executions};
use super::scenario::{Scenario, Settings};
use crate::stack::plan::LocalPlan;
use crate::stack::state::{ProcessRecord, RestartPolicy, StackState};
use crate::stack::{DataDir, Service, local};
use crate::ui::Style;

/// How long a stack may take to become healthy.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The worker settings every torture stack runs with.
#[derive(Debug, Clone, Copy)]
pub struct WorkerTuning {
    /// WORKER_LEASE_MS.
    pub lease_ms: u64,
    /// WORKER_RETRY_BASE_MS.
    pub retry_base_ms: u64,
    /// WORKER_REDRIVE_AFTER_MS.
    pub redrive_after_ms: u64,
}

/// A running stack; [`TortureStack::stop`] stops it, and dropping it without that kills
/// every recorded process (a failed or interrupted run must not leave processes behind).
#[derive(Debug)]
pub struct TortureStack {
    dir: DataDir,
    state: StackState,
    stopped: bool,
}

impl TortureStack {
    /// Starts the stack of `scenario` (its workers and effect) in `dir` and waits until it
    /// is healthy. The environment of `sidefx torture` reaches every service (the supervisor
    /// and the services inherit it), `SIDEFX_MUTATION` included.
    pub async fn start(dir: DataDir, scenario: &Scenario, settings: Settings) -> Result<Self> {
        let plan = LocalPlan {
            api_port: 0,
            driftq_port: 0,
            workers: scenario.workers,
            restart: RestartPolicy::Every,
            effect: scenario.effect,
            provider_port: 0,
            provider_faults: settings.provider_faults,
        };
        let tuning = settings.tuning;
        let env = [
            // A throwaway stack is never locked: its own verify calls carry no token.
            ("API_ADMIN_TOKEN", String::new()),
            ("WORKER_LEASE_MS", tuning.lease_ms.to_string()),
            // Claims as short as deliveries, so a killed worker's claim is taken over as
            // soon as its command comes back.
            ("WORKER_CLAIM_LEASE_MS", tuning.lease_ms.to_string()),
            ("WORKER_RETRY_BASE_MS", tuning.retry_base_ms.to_string()),
            (
                "WORKER_REDRIVE_AFTER_MS",
                tuning.redrive_after_ms.to_string(),
            ),
            // Keeps the dead-letter path quick without changing what is tested.
            (
                "WORKER_RETRY_MAX_MS",
                (tuning.retry_base_ms * 8).to_string(),
            ),
            // The worker refuses a provider timeout that is not shorter than its lease.
            (
                "PROVIDER_TIMEOUT_MS",
                (tuning.lease_ms / 2).max(1).to_string(),
            ),
        ];
        let state = plan
            .record_and_start(&dir, &env, START_TIMEOUT, Style::detect())
            .await?;
        Ok(Self {
            dir,
            state,
            stopped: false,
        })
    }

    /// The API's base URL.
    pub fn api_url(&self) -> &str {
        &self.state.api_url
    }

    /// What the effect's ledger says was executed on this stack.
    pub async fn executions(&self) -> Result<Option<Executions>> {
        let provider = self.state.provider.as_ref().map(|p| p.url.as_str());
        let effect = self.state.effect;
        executions::read(effect, &self.dir, provider)
            .await
            .with_context(|| format!("cannot read the {} ledger", effect.name()))
    }

    /// The newest state the supervisor wrote (PIDs change on every restart).
    fn current(&self) -> Result<StackState> {
        StackState::load(&self.dir)?.context("the torture stack's state file is gone")
    }

    /// SIGKILLs one live worker chosen at random; false when none was alive.
    pub fn kill_random_worker(&self) -> Result<bool> {
        let state = self.current()?;
        let local = state.local.as_ref().context("not a local stack")?;
        let alive: Vec<&ProcessRecord> = local
            .worker_records()
            .into_iter()
            .filter(|r| r.is_ours())
            .collect();
        Ok(alive
            .choose(&mut rand::rng())
            .is_some_and(|r| r.signal_if_ours(Signal::SIGKILL)))
    }

    /// SIGKILLs DriftQ or the API; false when it was not running.
    pub fn kill(&self, service: Service) -> Result<bool> {
        let state = self.current()?;
        let local = state.local.as_ref().context("not a local stack")?;
        Ok(local
            .service(service)
            .is_some_and(|r| r.signal_if_ours(Signal::SIGKILL)))
    }

    /// How often the supervisor restarted a worker (kills and deliberate crashes).
    pub fn worker_restarts(&self) -> Result<u32> {
        let state = self.current()?;
        Ok(state.local.map_or(0, |l| l.worker_restarts))
    }

    /// Stops the supervisor and every service.
    pub async fn stop(mut self) -> Result<()> {
        self.stopped = true;
        let state = StackState::load(&self.dir)?.unwrap_or_else(|| self.state.clone());
        local::stop(&self.dir, &state).await
    }
}

impl Drop for TortureStack {
    fn drop(&mut self) {
        if !self.stopped {
            local::kill_now(&self.dir, &self.state);
        }
    }
}
