//! The flags of `sidefx torture`: which scenarios, and every size, with defaults that take a
//! few minutes with release binaries (the tests pass small sizes; docs/RELIABILITY.md the large).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::stack::effect::{EffectMode, ProviderFaults};

/// The scenarios `sidefx torture` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScenarioKind {
    /// Each crash point (`fail_mode`) x each worker count, on a fresh stack per cell.
    Matrix,
    /// A random worker SIGKILLed every --kill-every-ms while runs are in flight.
    Storm,
    /// driftq-local SIGKILLed and restarted (same WAL, same port) between batches of load.
    Broker,
    /// The API SIGKILLed and restarted between batches of load; clients retry their POST with
    /// the same Idempotency-Key.
    Api,
}

/// The side effect the scenarios' workers perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TortureEffect {
    /// Ticket files; executions counted from the ticket effect's ledger (`artifacts/ledger.jsonl`).
    Ticket,
    /// Charges at a provider with faults on; executions counted from its `/_ledger`.
    Provider,
    /// Every scenario twice: ticket first, then provider.
    Both,
}

impl TortureEffect {
    /// The effect modes to run, in order.
    pub fn modes(self) -> Vec<EffectMode> {
        match self {
            TortureEffect::Ticket => vec![EffectMode::Ticket],
            TortureEffect::Provider => vec![EffectMode::Provider],
            TortureEffect::Both => vec![EffectMode::Ticket, EffectMode::Provider],
        }
    }
}

/// Flags of `sidefx torture`.
#[derive(Debug, Clone, Args)]
pub struct TortureArgs {
    /// Scenarios to run, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "matrix,storm,broker,api"
    )]
    pub scenarios: Vec<ScenarioKind>,
    /// Matrix: runs per cell (crash point x worker count).
    #[arg(long, default_value_t = 25)]
    pub matrix_runs: usize,
    /// Matrix: the worker counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,3")]
    pub matrix_workers: Vec<u32>,
    /// Matrix: the crash points (`fail_mode`s), comma-separated. Default: all four.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub matrix_crash_points: Vec<super::matrix::CrashPoint>,
    /// Storm: runs submitted.
    #[arg(long, default_value_t = 300)]
    pub storm_runs: usize,
    /// Storm: worker processes.
    #[arg(long, default_value_t = 3)]
    pub storm_workers: u32,
    /// Storm: a random live worker is SIGKILLed this often (ms).
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub kill_every_ms: u64,
    /// Broker scenario: runs submitted.
    #[arg(long, default_value_t = 100)]
    pub broker_runs: usize,
    /// API scenario: runs submitted.
    #[arg(long, default_value_t = 100)]
    pub api_runs: usize,
    /// Broker and API scenarios: how many times the service is killed (the load is submitted
    /// in restarts + 1 batches, with a kill after each batch but the last).
    #[arg(long, default_value_t = 3)]
    pub restarts: u32,
    /// Workers of the storm-free scenarios (broker, API).
    #[arg(long, default_value_t = 2)]
    pub workers: u32,
    /// Every Nth run asks to fail on every attempt and must end dead-lettered (0: none).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub dead_letter_every: usize,
    /// Requests in flight at once (keep-alive connections).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// The workers' DriftQ and claim leases (WORKER_LEASE_MS, WORKER_CLAIM_LEASE_MS): how
    /// soon a killed worker's commands are redelivered and its claims taken over.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub lease_ms: u64,
    /// The workers' first retry backoff (WORKER_RETRY_BASE_MS), so dead letters come quickly.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub retry_base_ms: u64,
    /// The workers' redrive delay (WORKER_REDRIVE_AFTER_MS): how long a run whose command
    /// DriftQ lost in a restart waits before a worker publishes it again. Short here, so
    /// such runs are recovered within the scenario; redundant redrives are part of the test.
    #[arg(long, value_name = "MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1000..))]
    pub redrive_after_ms: u64,
    /// Per scenario: seconds to wait for every accepted run to finish (and verify to be clean).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// Keep the stacks' data and logs here. Default: a temp dir, deleted when every scenario
    /// passed and kept (its path printed) when one failed.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print the result as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// The side effect: ticket files, charges at the provider simulator (started on each
    /// stack, faults on), or both (every scenario once per effect).
    #[arg(long, value_enum, default_value_t = TortureEffect::Ticket)]
    pub effect: TortureEffect,
    /// Provider: share of charges committed whose answer is then dropped (the worker cannot
    /// know whether it was charged and must retry with the same key).
    #[arg(long, value_name = "RATE", default_value_t = 0.1)]
    pub provider_drop_after_commit_rate: f64,
    /// Provider: share of charge requests answered 5xx before anything is committed.
    #[arg(long, value_name = "RATE", default_value_t = 0.05)]
    pub provider_fail_before_commit_rate: f64,
    /// Provider: share of charge requests answered only after --provider-slow-ms.
    #[arg(long, value_name = "RATE", default_value_t = 0.05)]
    pub provider_slow_rate: f64,
    /// Provider: how slow a slow answer is (ms). Default: twice --lease-ms, so it outlives the
    /// worker's provider timeout (half the lease here) and the claim's lease.
    #[arg(long, value_name = "MS")]
    pub provider_slow_ms: Option<u64>,
}

impl TortureArgs {
    /// The provider's fault injection these flags ask for.
    pub fn provider_faults(&self) -> ProviderFaults {
        ProviderFaults {
            drop_after_commit_rate: self.provider_drop_after_commit_rate,
            fail_before_commit_rate: self.provider_fail_before_commit_rate,
            slow_rate: self.provider_slow_rate,
            slow_ms: self.provider_slow_ms.unwrap_or(self.lease_ms * 2),
        }
    }
}
