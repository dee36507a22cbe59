//! `sidefx bench --local` at a tiny size (40 runs, concurrency 4) with the real binaries:
//! the JSON report has every field and every run completed. No timing assertions: the
//! figures depend on the machine; docs/PERFORMANCE.md has the real ones.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::{SIDEFX, StacksDir, require_service_binaries, text};

/// Runs `sidefx <args>` with TMPDIR inside `stacks`, so the throwaway stack of `--local`
/// lives there and the guard's `sidefx down` (by the recorded PIDs) stops it even if
/// `sidefx` itself had to be killed. Kills `sidefx` by its PID at `timeout`.
fn sidefx_in(stacks: &StacksDir, args: &[&str], timeout: Duration) -> Output {
    let mut command = Command::new(SIDEFX);
    command.env("TMPDIR", stacks.path());
    common::run(command, args, timeout)
}

#[test]
fn a_tiny_local_bench_reports_every_field_and_completes_every_run() {
    require_service_binaries();
    let stacks = StacksDir::new();
    let args = [
        "bench",
        "--local",
        "-n",
        "40",
        "-c",
        "4",
        "--json",
        "--timeout",
        "120",
    ];
    let out = sidefx_in(&stacks, &args, Duration::from_secs(240));
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out)));
    for field in [
        "api",
        "runs",
        "completed",
        "mode",
        "concurrency",
        "offered_rate",
        "elapsed_s",
        "runs_per_s",
        "submit_to_done_ms",
        "post_ms",
        "polls",
        "processes",
        "errors",
        "load_avg_1m",
        "passed",
    ] {
        assert!(report.get(field).is_some(), "no `{field}` in {report:#}");
    }
    assert_eq!(report["runs"], 40);
    assert_eq!(report["completed"], 40, "{report:#}");
    assert_eq!(report["passed"], true);
    assert_eq!(report["mode"], "closed");
    for part in ["submit_to_done_ms", "post_ms"] {
        for p in ["p50", "p95", "p99", "max"] {
            assert!(report[part][p].is_number(), "{part}.{p} in {report:#}");
        }
    }
    let processes = report["processes"].as_array().expect("processes");
    let mut roles: Vec<&str> = processes
        .iter()
        .filter_map(|p| p["role"].as_str())
        .collect();
    roles.sort_unstable();
    assert_eq!(roles, ["api", "driftq", "worker"], "{report:#}");
    for p in processes {
        for field in ["pids", "cpu_s", "cpu_ms_per_run", "peak_rss_mb", "missing"] {
            assert!(p.get(field).is_some(), "no `{field}` in {p}");
        }
        assert!(p["peak_rss_mb"].as_f64().unwrap_or(0.0) > 0.0, "{p}");
    }
}

#[test]
fn bench_refuses_pids_that_are_not_role_equals_pid() {
    let stacks = StacksDir::new();
    let args = [
        "bench",
        "--api",
        "http://127.0.0.1:9",
        "--pids",
        "api",
        "-n",
        "1",
    ];
    let out = sidefx_in(&stacks, &args, Duration::from_secs(30));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ROLE=PID"),
        "{}",
        text(&out)
    );
}
