//! One throwaway local stack per scenario (`stack/throwaway.rs`): free ports, its own data
//! dir, every service restarted at once when it dies (kills are the test), a short lease so
//! redeliveries come quickly.

use anyhow::{Context, Result};

use super::executions::{self, Executions};
use super::scenario::{Scenario, Settings};
use crate::stack::DataDir;
use crate::stack::plan::LocalPlan;
use crate::stack::state::RestartPolicy;
use crate::stack::throwaway::ThrowawayStack;
use crate::ui::Style;

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

/// Starts the stack of `scenario` (its workers and effect) in `dir` and waits until it is
/// healthy. The environment of `sidefx torture` reaches every service (the supervisor and the
/// services inherit it), `SIDEFX_MUTATION` included.
pub async fn start(
    dir: DataDir,
    scenario: &Scenario,
    settings: Settings,
) -> Result<ThrowawayStack> {
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
        ("WORKER_LEASE_MS", tuning.lease_ms.to_string()),
        // Claims as short as deliveries, so a killed worker's claim is taken over as soon as
        // its command comes back.
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
    ThrowawayStack::start_in(dir, &plan, &env, Style::detect()).await
}

/// What the effect's ledger says was executed on `stack`.
pub async fn executions(stack: &ThrowawayStack) -> Result<Option<Executions>> {
    let state = stack.state();
    let provider = state.provider.as_ref().map(|p| p.url.as_str());
    executions::read(state.effect, stack.dir(), provider)
        .await
        .with_context(|| format!("cannot read the {} ledger", state.effect.name()))
}
