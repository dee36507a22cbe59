//! One scenario from start to verdict: a fresh stack, the load (with the scenario's chaos
//! running alongside), the wait for quiescence, `/debug/verify`, the ledger and the runs'
//! event streams, and the counts.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::announcements;
use super::evidence::{self, ScenarioResult};
use super::stack::{self, WorkerTuning};
use super::{restarts, storm};
use crate::stack::throwaway::ThrowawayStack;
use sidefx_core::{RunRequest, VerifyReport};

use crate::api_client::ApiClient;
use crate::load::{Load, RunState, Submission};
use crate::stack::effect::{EffectMode, ProviderFaults};
use crate::stack::{DataDir, Service};

/// How long verify may take to turn clean after the last run finished (the dead-letter
/// archiver acks its record a moment after the run is marked dead-lettered).
const VERIFY_SETTLE: Duration = Duration::from_secs(20);
const VERIFY_POLL: Duration = Duration::from_millis(250);

/// What is done to the stack while the load runs.
#[derive(Debug, Clone, Copy)]
pub enum Chaos {
    /// Nothing from outside (the matrix: the runs' `fail_mode` crashes the workers).
    None,
    /// A random live worker SIGKILLed this often until every run finished.
    Storm(Duration),
    /// `service` SIGKILLed this many times, between batches of the load.
    Restart(Service, u32),
}

/// A scenario to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Row label, e.g. `matrix crash_after_claim_before_effect`.
    pub name: String,
    /// Worker processes.
    pub workers: u32,
    /// The runs.
    pub specs: Vec<RunRequest>,
    /// What happens to the stack meanwhile.
    pub chaos: Chaos,
    /// The side effect the workers perform.
    pub effect: EffectMode,
}

/// What every scenario shares.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Requests in flight.
    pub concurrency: usize,
    /// Deadline for everything to finish.
    pub timeout: Duration,
    /// The workers' lease and retry backoff.
    pub tuning: WorkerTuning,
    /// The provider's faults (provider-mode scenarios).
    pub provider_faults: ProviderFaults,
}

/// Runs `scenario` on a new stack in `dir` and counts what happened.
pub async fn run(scenario: Scenario, dir: DataDir, settings: Settings) -> Result<ScenarioResult> {
    let started = Instant::now();
    let stack = stack::start(dir, &scenario, settings).await?;
    let outcome = drive(&stack, &scenario, settings).await;
    let worker_restarts = stack.worker_restarts();
    // Read while the provider still runs; every run is final (or given up on) by now.
    let executions = stack::executions(&stack).await;
    // The announcements too, while the API and DriftQ still run.
    let announced = match &outcome {
        Ok((submissions, states, ..)) => {
            announcements::read(stack.api_url(), submissions, states).await
        }
        Err(_) => Ok(announcements::Announcements::default()),
    };
    stack.stop().await?;
    let (submissions, states, report, service_kills) = outcome?;
    let executions = executions?;
    Ok(evidence::count(evidence::Inputs {
        name: scenario.name,
        effect: scenario.effect,
        workers: scenario.workers,
        submissions: &submissions,
        states: &states,
        report: report.as_ref(),
        executions: executions.as_ref(),
        // A client that cannot be built leaves the column empty, like a stream not read.
        announcements: announced.as_ref().ok(),
        kills: worker_restarts? + service_kills,
        elapsed: started.elapsed(),
    }))
}

type Driven = (
    Vec<Submission>,
    Vec<Option<RunState>>,
    Option<VerifyReport>,
    u32,
);

/// The load and the chaos, then the wait and the verify.
async fn drive(stack: &ThrowawayStack, scenario: &Scenario, settings: Settings) -> Result<Driven> {
    let deadline = Instant::now() + settings.timeout;
    let load = Load::new(stack.api_url(), settings.concurrency, settings.timeout)?;
    let specs = scenario.specs.clone();
    let (submissions, states, service_kills) = match scenario.chaos {
        Chaos::None => {
            let submissions = load.submit(specs).await;
            let states = load.wait(&submissions, deadline).await;
            (submissions, states, 0)
        }
        Chaos::Storm(every) => {
            let work = async {
                let submissions = load.submit(specs).await;
                let states = load.wait(&submissions, deadline).await;
                (submissions, states)
            };
            let (submissions, states) = storm::during(stack, every, work).await?;
            (submissions, states, 0)
        }
        Chaos::Restart(service, kills) => {
            let (submissions, killed) =
                restarts::between_batches(stack, &load, specs, service, kills).await?;
            let states = load.wait(&submissions, deadline).await;
            (submissions, states, killed)
        }
    };
    let all_final = states.iter().flatten().all(|s| s.status.is_final());
    let report = settled_report(stack.api_url(), all_final, deadline).await;
    Ok((submissions, states, report, service_kills))
}

/// `/debug/verify` with no grace periods, polled until clean for a short while when every run
/// finished (asked once otherwise: the violations then explain what is stuck).
async fn settled_report(api: &str, all_final: bool, deadline: Instant) -> Option<VerifyReport> {
    let client = ApiClient::new(api, None).ok()?;
    let until = deadline
        .max(Instant::now())
        .min(Instant::now() + VERIFY_SETTLE);
    loop {
        let report = client.verify(true).await.ok().map(|answer| answer.report);
        let clean = report.as_ref().is_some_and(|r| r.clean);
        if clean || !all_final || Instant::now() >= until {
            return report;
        }
        tokio::time::sleep(VERIFY_POLL).await;
    }
}
