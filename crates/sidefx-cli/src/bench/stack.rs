//! The throwaway local stack of `sidefx bench --local` (a temp data dir, free ports, the usual
//! supervisor; see `stack/throwaway.rs`), and the processes a benchmark measures.

use anyhow::{Context, Result};

use super::procstat::Watched;
use crate::stack::effect::{EffectMode, ProviderFaults};
use crate::stack::plan::LocalPlan;
use crate::stack::state::{RestartPolicy, StackState};
use crate::stack::throwaway::ThrowawayStack;
use crate::ui::Style;

/// Starts driftq-local, the API and `workers` workers, and waits until they are healthy.
pub async fn start(workers: u32, style: Style) -> Result<ThrowawayStack> {
    let plan = LocalPlan {
        api_port: 0,
        driftq_port: 0,
        workers,
        restart: RestartPolicy::Workers,
        effect: EffectMode::Ticket,
        provider_port: 0,
        provider_faults: ProviderFaults::default(),
    };
    ThrowawayStack::start_in_temp("sidefx-bench-", &plan, &[], style).await
}

/// The services' processes of `stack`, from the state file the supervisor keeps.
pub fn watched(stack: &ThrowawayStack) -> Result<Vec<Watched>> {
    watched_of(&stack.current()?)
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
