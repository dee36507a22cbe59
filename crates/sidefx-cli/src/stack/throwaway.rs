//! A throwaway local stack, for `sidefx bench --local` and every scenario of `sidefx torture`:
//! free ports, its own data dir, the usual supervisor, never locked (no admin token, so its
//! own verify calls need none). [`ThrowawayStack::stop`] stops it; dropping it without that
//! SIGKILLs every recorded process, so a failed or interrupted run leaves none behind. Kills
//! go by the PIDs the supervisor records, checked to still be ours.

use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::signal::Signal;
use rand::seq::IndexedRandom;

use super::plan::LocalPlan;
use super::state::{ProcessRecord, StackState};
use super::{DataDir, Service, local};
use crate::ui::Style;

/// How long the stack may take to become healthy.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running local stack that exists for one measurement or one scenario.
#[derive(Debug)]
pub struct ThrowawayStack {
    dir: DataDir,
    state: StackState,
    stopped: bool,
    // Declared last: dropped (deleted) after `Drop::drop` has killed the processes.
    _temp: Option<tempfile::TempDir>,
}

impl ThrowawayStack {
    /// Starts `plan` in a fresh temp dir named `<prefix>…`, deleted with the stack.
    pub async fn start_in_temp(
        prefix: &str,
        plan: &LocalPlan,
        env: &[(&str, String)],
        style: Style,
    ) -> Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .context("cannot create a temp dir")?;
        let dir = DataDir::new(temp.path())?;
        let mut stack = Self::start_in(dir, plan, env, style).await?;
        stack._temp = Some(temp);
        Ok(stack)
    }

    /// Starts `plan` in `dir` (kept after the stack stops) with `env` on top of this
    /// process's environment, and waits until it is healthy.
    pub async fn start_in(
        dir: DataDir,
        plan: &LocalPlan,
        env: &[(&str, String)],
        style: Style,
    ) -> Result<Self> {
        let mut env = env.to_vec();
        env.push(("API_ADMIN_TOKEN", String::new()));
        let state = plan
            .record_and_start(&dir, &env, START_TIMEOUT, style)
            .await?;
        Ok(Self {
            dir,
            state,
            stopped: false,
            _temp: None,
        })
    }

    /// The API's base URL.
    pub fn api_url(&self) -> &str {
        &self.state.api_url
    }

    /// Its data dir.
    pub fn dir(&self) -> &DataDir {
        &self.dir
    }

    /// The state recorded at start (ports, URLs, effect mode).
    pub fn state(&self) -> &StackState {
        &self.state
    }

    /// The newest state the supervisor wrote (PIDs change on every restart).
    pub fn current(&self) -> Result<StackState> {
        StackState::load(&self.dir)?.context("the throwaway stack's state file is gone")
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

impl Drop for ThrowawayStack {
    fn drop(&mut self) {
        if !self.stopped {
            local::kill_now(&self.dir, &self.state);
        }
    }
}
