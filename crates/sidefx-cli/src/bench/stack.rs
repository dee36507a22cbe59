//! The throwaway local stack of `sidefx bench --local`: a temp data dir, free ports, the
//! usual supervisor. Dropping it without [`BenchStack::stop`] SIGKILLs every recorded process
//! (an interrupted benchmark must not leave processes behind).

use std::time::Duration;

use anyhow::{Context, Result};

use super::procstat::Watched;
use crate::stack::effect::{EffectMode, ProviderFaults};
use crate::stack::plan::LocalPlan;
use crate::stack::state::{RestartPolicy, StackState};
use crate::stack::{DataDir, local};
use crate::ui::Style;

/// A throwaway stack is never locked: its verify calls carry no admin token.
const UNLOCKED: [(&str, String); 1] = [("API_ADMIN_TOKEN", String::new())];

/// How long the stack may take to become healthy.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running local stack in its own temp dir.
#[derive(Debug)]
pub struct BenchStack {
    dir: DataDir,
    state: StackState,
    stopped: bool,
    // Declared last: dropped (deleted) after `Drop::drop` has killed the processes.
    _temp: tempfile::TempDir,
}

impl BenchStack {
    /// Starts driftq-local, the API and `workers` workers, and waits until they are healthy.
    pub async fn start(workers: u32, style: Style) -> Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix("sidefx-bench-")
            .tempdir()
            .context("cannot create a temp dir")?;
        let dir = DataDir::new(temp.path())?;
        let plan = LocalPlan {
            api_port: 0,
            driftq_port: 0,
            workers,
            restart: RestartPolicy::Workers,
            effect: EffectMode::Ticket,
            provider_port: 0,
            provider_faults: ProviderFaults::default(),
        };
        let state = plan
            .record_and_start(&dir, &UNLOCKED, START_TIMEOUT, style)
            .await?;
        Ok(Self {
            dir,
            state,
            stopped: false,
            _temp: temp,
        })
    }

    /// The API's base URL.
    pub fn api_url(&self) -> &str {
        &self.state.api_url
    }

    /// The services' processes, from the state file the supervisor keeps.
    pub fn watched(&self) -> Result<Vec<Watched>> {
        let state = StackState::load(&self.dir)?.context("the bench stack's state file is gone")?;
        watched_of(&state)
    }

    /// Stops the supervisor and every service.
    pub async fn stop(mut self) -> Result<()> {
        self.stopped = true;
        let state = StackState::load(&self.dir)?.unwrap_or_else(|| self.state.clone());
        local::stop(&self.dir, &state).await
    }
}

/// The API, worker and DriftQ processes recorded in a local stack's state.
pub fn watched_of(state: &StackState) -> Result<Vec<Watched>> {
    let local = state.local.as_ref().context("not a local stack")?;
    let one = |role: &str, pid: u32| Watched {
        role: role.to_owned(),
        pid,
    };
    let mut watched: Vec<Watched> = Vec::new();
    watched.extend(local.api.as_ref().map(|r| one("api", r.pid)));
    watched.extend(local.worker_records().iter().map(|r| one("worker", r.pid)));
    watched.extend(local.driftq.as_ref().map(|r| one("driftq", r.pid)));
    Ok(watched)
}

impl Drop for BenchStack {
    fn drop(&mut self) {
        if !self.stopped {
            local::kill_now(&self.dir, &self.state);
        }
    }
}
