//! The flags of `sidefx bench`: how much load, at what concurrency or offered rate, against
//! which stack, and which processes to measure.

use clap::Args;

/// Flags of `sidefx bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Runs to submit.
    #[arg(long, short = 'n', default_value_t = 5000)]
    pub runs: usize,
    /// Closed loop: `POST /runs` requests in flight at once (one keep-alive connection each).
    #[arg(long, short = 'c', default_value_t = 16)]
    pub concurrency: usize,
    /// Open loop instead: offer this many runs per second, whatever the answers take
    /// (submit→done is then measured from each run's scheduled start, so a stall shows up in
    /// the percentiles instead of slowing the offered load).
    #[arg(long, value_name = "RUNS_PER_S")]
    pub rate: Option<f64>,
    /// Base URL of the sidefx API. Default: the stack recorded in --data-dir, else
    /// http://localhost:8000.
    #[arg(
        long,
        env = "SIDEFX_API_URL",
        value_name = "URL",
        conflicts_with = "local"
    )]
    pub api: Option<String>,
    /// Start a throwaway local stack (temp data dir, free ports) for the benchmark and stop it
    /// afterwards. Uses the service binaries next to `sidefx` (release ones for a release
    /// `sidefx`).
    #[arg(long)]
    pub local: bool,
    /// With --local: worker processes.
    #[arg(long, default_value_t = 1, requires = "local",
          value_parser = clap::value_parser!(u32).range(1..=32))]
    pub workers: u32,
    /// Processes to measure (CPU, peak RSS) when the stack is not local, e.g.
    /// `api=123,worker=456,driftq=789` (repeat `worker=` for several workers). Without it,
    /// the PIDs of a recorded local stack are used, else no process figures are printed.
    #[arg(
        long,
        value_name = "ROLE=PID,…",
        value_delimiter = ',',
        conflicts_with = "local"
    )]
    pub pids: Vec<String>,
    /// Seconds to wait for every run to be done before giving up (exit non-zero).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}
