//! `sidefx bench`: how fast is the stack, end to end, as any outside client sees it? Submits
//! N runs (closed loop at concurrency C, or open loop at an offered rate), waits for every
//! run's done side-effect row, and reports runs/s, submit→done and `POST /runs` latency, and
//! the CPU and peak memory of the API, worker(s) and broker (`procstat`). `submit` sends,
//! `complete` polls, `stack` owns a throwaway `--local` stack, `report` prints.

mod args;
mod complete;
mod procstat;
mod report;
mod stack;
mod submit;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};

pub use args::BenchArgs;
use procstat::{CpuBaseline, Watched};
use report::{BenchReport, Percentiles};
use submit::Sample;

use crate::load::{Load, percentile};
use crate::stack::DataDir;
use crate::stack::state::StackState;
use crate::ui::Style;

/// How long one `POST /runs` is retried (503 while the broker is busy, a restarting API).
const POST_RETRY_FOR: Duration = Duration::from_secs(30);
/// Keep-alive connections kept for an open-loop benchmark (requests are not bounded by -c).
const OPEN_LOOP_CONNECTIONS: usize = 64;

/// `sidefx bench`: exit 0 when every run completed, 1 otherwise.
pub async fn run(dir: &DataDir, args: &BenchArgs, style: Style) -> Result<ExitCode> {
    let report = if args.local {
        eprintln!("{} starting a local stack …", style.bold("bench"));
        let stack = stack::start(args.workers, style).await?;
        let measured = measure(stack.api_url(), &stack::watched(&stack)?, args).await;
        stack.stop().await?;
        measured?
    } else {
        let api = crate::api_client::api_url(args.api.as_deref(), dir)?;
        measure(&api, &outside_pids(dir, args, &api)?, args).await?
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report::print_text(&report, style);
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `--pids`, else the PIDs of the local stack recorded in the data dir when that is the
/// stack being measured, else none (the report then has no process figures).
fn outside_pids(dir: &DataDir, args: &BenchArgs, api: &str) -> Result<Vec<Watched>> {
    if !args.pids.is_empty() {
        return procstat::parse_pids(&args.pids).map_err(|e| anyhow!(e));
    }
    match StackState::load(dir)? {
        Some(state) if state.local.is_some() && state.api_url == api => stack::watched_of(&state),
        _ => Ok(Vec::new()),
    }
}

/// Runs the load against `api` and measures it.
async fn measure(api: &str, watched: &[Watched], args: &BenchArgs) -> Result<BenchReport> {
    let connections = match args.rate {
        Some(_) => OPEN_LOOP_CONNECTIONS,
        None => args.concurrency,
    };
    let load = Load::new(api, connections, POST_RETRY_FOR)?;
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let specs = submit::specs(args.runs);
    let (accepted, accepted_rx) = tokio::sync::mpsc::unbounded_channel();
    let baseline = CpuBaseline::take(watched);
    let poller = tokio::spawn(complete::wait_done(load.clone(), accepted_rx, deadline));
    let samples = match args.rate {
        Some(rate) => submit::open_loop(&load, specs, rate, accepted).await,
        None => submit::closed_loop(&load, specs, args.concurrency, accepted).await,
    };
    let seen = poller.await?;
    let processes = baseline.finish(seen.done_ms.len());
    Ok(build_report(api, args, &samples, &seen, processes))
}

fn build_report(
    api: &str,
    args: &BenchArgs,
    samples: &[Sample],
    seen: &complete::Completion,
    processes: Vec<procstat::RoleFigures>,
) -> BenchReport {
    let mut done = Vec::new();
    let mut posts = Vec::new();
    for (index, sample) in samples.iter().enumerate() {
        if sample.submission.run_id.is_some() {
            posts.push(sample.post_latency);
        }
        if let Some(done_ms) = seen.done_ms.get(&index) {
            let ms = (done_ms - sample.start_ms).max(0);
            done.push(Duration::from_millis(u64::try_from(ms).unwrap_or(0)));
        }
    }
    let first_start = samples.iter().map(|s| s.start_ms).min().unwrap_or(0);
    let last_done = seen.done_ms.values().copied().max().unwrap_or(first_start);
    let elapsed_s = (last_done - first_start).max(1) as f64 / 1000.0;
    let completed = seen.done_ms.len();
    BenchReport {
        api: api.to_owned(),
        runs: args.runs,
        completed,
        mode: if args.rate.is_some() {
            "open"
        } else {
            "closed"
        },
        concurrency: args.rate.is_none().then_some(args.concurrency),
        offered_rate: args.rate,
        elapsed_s,
        runs_per_s: completed as f64 / elapsed_s,
        submit_to_done_ms: percentiles(done),
        post_ms: percentiles(posts),
        polls: seen.polls,
        processes,
        errors: errors(samples, seen),
        load_avg_1m: report::load_avg_1m(),
        passed: completed == args.runs,
    }
}

fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort_unstable();
    let at = |p| percentile(&samples, p).map(|d| d.as_secs_f64() * 1000.0);
    Percentiles {
        p50: at(50.0),
        p95: at(95.0),
        p99: at(99.0),
        max: at(100.0),
    }
}

/// Every error by kind: retried and refused POSTs, failed polls, runs that never got done.
fn errors(samples: &[Sample], seen: &complete::Completion) -> BTreeMap<String, u64> {
    let mut errors = BTreeMap::new();
    let mut count = |kind: String, n: u64| {
        if n > 0 {
            *errors.entry(kind).or_insert(0) += n;
        }
    };
    for s in samples {
        for why in &s.submission.retried {
            count(format!("POST /runs retried: {why}"), 1);
        }
        if let Some(why) = &s.submission.refused {
            count(format!("POST /runs refused: {why}"), 1);
        }
    }
    count("GET /runs/{id} failed".to_owned(), seen.poll_errors);
    count(
        "run ended without a done row".to_owned(),
        seen.ended_without_effect as u64,
    );
    let accepted = samples.iter().filter(|s| s.submission.run_id.is_some());
    let undone = accepted.count() - seen.done_ms.len() - seen.ended_without_effect;
    count("run not done by the deadline".to_owned(), undone as u64);
    errors
}
