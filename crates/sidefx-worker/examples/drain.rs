//! Drain benchmark for the worker: pre-fills N commands (with their run rows and event
//! topics, as `POST /runs` would), starts `sidefx-worker` as a separate process, and measures
//! how fast it completes them all, its CPU time per run and its peak RSS (from `/proc`, so
//! the in-process broker's share is not counted).
//!
//! ```text
//! cargo build --release -p sidefx-worker --bins --examples
//! target/release/examples/drain --runs 5000
//! ```
//!
//! Linux only (reads `/proc/<pid>/stat` and `/proc/<pid>/status`).

#![allow(
    clippy::print_stdout,
    reason = "an example reports its figures on stdout"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use sidefx_core::{
    BusinessKey, COMMANDS_TOPIC, FailMode, NewRun, Publisher, RunCommand, RunId, RunStatus, StepId,
    Store, events_topic, now_ms,
};

/// `/proc/<pid>/stat` counts CPU time in USER_HZ ticks, which Linux fixes at 100 per second
/// for every architecture's user-space ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// Command line of the drain benchmark.
#[derive(Debug, Parser)]
struct Args {
    /// Commands to pre-fill (one run each).
    #[arg(long, default_value_t = 5000)]
    runs: u32,
    /// The worker binary; default: `sidefx-worker` next to this example's directory.
    #[arg(long)]
    worker_bin: Option<PathBuf>,
    /// `WORKER_CONCURRENCY` for the worker (unset: the worker's default).
    #[arg(long)]
    concurrency: Option<u32>,
    /// `LOG_LEVEL` for the worker.
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_s: u64,
}

/// A worker process, killed (by PID, through `Child`) when dropped.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let broker = driftq_local::spawn(broker_config(dir.path())).await?;
    let store = Store::open(&dir.path().join("side_effects.sqlite")).await?;
    let publisher = Publisher::new(driftq_client::Client::new(&broker.base_url())?);
    let filled = Instant::now();
    prefill(&store, &publisher, args.runs).await?;
    println!(
        "prefilled {} commands in {:.2}s",
        args.runs,
        filled.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let worker = spawn_worker(&args, dir.path(), &broker.base_url(), store.path())?;
    wait_completed(&store, args.runs, Duration::from_secs(args.timeout_s)).await?;
    let elapsed = started.elapsed();
    let (cpu, hwm_kb) = usage(worker.0.id())?;
    report(&args, elapsed, cpu, hwm_kb);
    drop(worker);
    broker.shutdown().await;
    Ok(())
}

/// driftq-local with the default limits, except backpressure: pre-filling thousands of
/// commands before any group acked would hit the 100-messages-per-partition buffer (Q15).
fn broker_config(dir: &Path) -> driftq_local::BrokerConfig {
    let mut config = driftq_local::BrokerConfig::ephemeral(dir.join("driftq.wal"));
    config.log_level = "warn".to_owned();
    config.limits.buffer_messages = 10_000_000;
    config.limits.buffer_bytes = 1 << 40;
    config
}

/// Registers `runs` runs, creates their event topics and publishes their first commands.
async fn prefill(store: &Store, publisher: &Publisher, runs: u32) -> anyhow::Result<()> {
    publisher.ensure_topic(COMMANDS_TOPIC).await?;
    futures::stream::iter(0..runs)
        .map(|n| fill_one(store, publisher, n))
        .buffer_unordered(32)
        .try_collect::<()>()
        .await
}

/// What `POST /runs` does for one run, minus the HTTP.
async fn fill_one(store: &Store, publisher: &Publisher, n: u32) -> anyhow::Result<()> {
    let run_id = RunId::generate();
    let business_key = BusinessKey::parse(&format!("drain-{n}"))?;
    store
        .create_run(NewRun {
            run_id: run_id.clone(),
            business_key: business_key.clone(),
            request_json: "{}".to_owned(),
            idempotency_key: None,
            request_fingerprint: String::new(),
        })
        .await?;
    publisher.ensure_topic(&events_topic(&run_id)).await?;
    let command = RunCommand {
        ts: now_ms(),
        events_topic: events_topic(&run_id),
        run_id,
        step_id: StepId::charge_card(),
        business_key,
        amount: 1.0,
        attempt: 0,
        max_attempts: 3,
        fail_before_effect_n: 0,
        fail_mode: FailMode::None,
        redrive: None,
    };
    publisher.command(&command).await?;
    Ok(())
}

/// Starts the worker on the benchmark's broker, database and artifacts; logs go to a file.
fn spawn_worker(args: &Args, dir: &Path, broker_url: &str, db: &Path) -> anyhow::Result<Worker> {
    let bin = match &args.worker_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .context("no parent directory")?
            .join("sidefx-worker"),
    };
    let log = std::fs::File::create(dir.join("worker.log"))?;
    let mut command = Command::new(&bin);
    command
        .env("DRIFTQ_HTTP_URL", broker_url)
        .env("SIDEFX_DB_PATH", db)
        .env("ARTIFACTS_DIR", dir.join("artifacts"))
        .env("LOG_LEVEL", &args.log_level)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    if let Some(concurrency) = args.concurrency {
        command.env("WORKER_CONCURRENCY", concurrency.to_string());
    }
    let child = command
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok(Worker(child))
}

/// Polls the run registry until `runs` runs are completed.
async fn wait_completed(store: &Store, runs: u32, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let counts = store.run_status_counts().await?;
        let completed = counts
            .iter()
            .find(|(status, _)| *status == RunStatus::Completed)
            .map_or(0, |(_, n)| *n);
        if completed >= u64::from(runs) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {completed} of {runs} runs completed within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// CPU time (user + system) and peak RSS in KiB of process `pid`.
fn usage(pid: u32) -> anyhow::Result<(Duration, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after_name = stat.rsplit_once(')').context("stat format")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let hwm_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .context("VmHWM missing")?
        .parse()?;
    Ok((
        Duration::from_secs_f64(ticks as f64 / TICKS_PER_SECOND),
        hwm_kb,
    ))
}

fn report(args: &Args, elapsed: Duration, cpu: Duration, hwm_kb: u64) {
    let runs = f64::from(args.runs);
    println!(
        "drained {} runs in {:.2}s: {:.0} runs/s | worker cpu {:.2}s = {:.3} ms/run | \
         peak rss {:.1} MiB",
        args.runs,
        elapsed.as_secs_f64(),
        runs / elapsed.as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1000.0 / runs,
        hwm_kb as f64 / 1024.0,
    );
}
