//! The benchmark's result: one serializable report (`--json`) and its text rendering.

use std::collections::BTreeMap;

use serde::Serialize;

use super::procstat::RoleFigures;
use crate::ui::Style;

/// Everything `sidefx bench` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The API that was measured.
    pub api: String,
    /// Runs submitted.
    pub runs: usize,
    /// Runs with a done side-effect row by the end.
    pub completed: usize,
    /// `closed` (fixed concurrency) or `open` (offered rate).
    pub mode: &'static str,
    /// Closed loop: requests in flight.
    pub concurrency: Option<usize>,
    /// Open loop: offered runs per second.
    pub offered_rate: Option<f64>,
    /// From the first submission to the last done row, in seconds.
    pub elapsed_s: f64,
    /// `completed / elapsed_s`.
    pub runs_per_s: f64,
    /// Submit→done (start of the run to its done row's `updated_ms`), in ms.
    pub submit_to_done_ms: Percentiles,
    /// `POST /runs` latency (retries included), in ms.
    pub post_ms: Percentiles,
    /// `GET /runs/{id}` requests the completion poller made.
    pub polls: u64,
    /// CPU and peak RSS per role (empty when no PIDs were known).
    pub processes: Vec<RoleFigures>,
    /// Every error, counted by kind (empty when there was none).
    pub errors: BTreeMap<String, u64>,
    /// 1-minute load average of the machine when the benchmark ended (`/proc/loadavg`).
    pub load_avg_1m: Option<f64>,
    /// Every run completed.
    pub passed: bool,
}

/// Latency percentiles in milliseconds (nearest rank; `None` without samples).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest sample.
    pub max: Option<f64>,
}

/// The 1-minute load average.
pub fn load_avg_1m() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.1} ms"))
}

/// Prints the report for people.
pub fn print_text(r: &BenchReport, style: Style) {
    let load = match (r.concurrency, r.offered_rate) {
        (_, Some(rate)) => format!("offered {rate} runs/s (open loop)"),
        (Some(c), None) => format!("concurrency {c} (closed loop)"),
        (None, None) => String::new(),
    };
    println!(
        "{} {} runs against {}, {load}",
        style.bold("bench"),
        r.runs,
        r.api
    );
    println!(
        "  completed   {}/{} in {:.2} s  →  {}",
        r.completed,
        r.runs,
        r.elapsed_s,
        style.bold(&format!("{:.0} runs/s", r.runs_per_s))
    );
    let d = &r.submit_to_done_ms;
    println!(
        "  submit→done p50 {}  p95 {}  p99 {}  max {}",
        ms(d.p50),
        ms(d.p95),
        ms(d.p99),
        ms(d.max)
    );
    println!(
        "  POST /runs  p50 {}  p99 {}   ({} GET /runs/{{id}} polls)",
        ms(r.post_ms.p50),
        ms(r.post_ms.p99),
        r.polls
    );
    for p in &r.processes {
        let missing = if p.missing.is_empty() {
            String::new()
        } else {
            format!("  (gone: {:?})", p.missing)
        };
        println!(
            "  {:<7} CPU {:>7.2} s = {:>6.3} ms/run   peak RSS {:>6.1} MiB   pids {:?}{missing}",
            p.role, p.cpu_s, p.cpu_ms_per_run, p.peak_rss_mb, p.pids
        );
    }
    for (kind, count) in &r.errors {
        println!("  {} {count} × {kind}", style.warn("error"));
    }
    if let Some(load) = r.load_avg_1m {
        println!(
            "  {}",
            style.dim(&format!("machine load average (1 min): {load:.2}"))
        );
    }
    let verdict = if r.passed {
        style.ok("every run completed")
    } else {
        style.err("NOT every run completed")
    };
    println!("  {verdict}");
}
