//! `sidefx status` tells the truth about a local stack: every worker of `--workers 2`, each
//! with its own metrics port; a worker that crash-loops makes it exit 1 with the reason from
//! the worker's log; so does a stack the supervisor tore down after the API died; and with no
//! stack at all it exits 3. Real processes on free ports in temp dirs.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{SIDEFX, StacksDir, require_service_binaries, text};
use sidefx_testkit::poll_until;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);

/// `sidefx --data-dir <dir> <args>` with `env` added.
fn sidefx_with(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(SIDEFX);
    command.arg("--data-dir").arg(dir);
    command.envs(env.iter().map(|(k, v)| (k, v)));
    common::run(command, args, COMMAND_TIMEOUT)
}

/// `sidefx status --json`: its exit code and report.
fn status(dir: &Path) -> (Option<i32>, serde_json::Value) {
    let out = sidefx_with(dir, &["status", "--json"], &[]);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {}", text(&out)));
    (out.status.code(), report)
}

/// A port whose next one is free too (both checked, then released).
fn two_free_ports() -> u16 {
    for _ in 0..50 {
        let first = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = first.local_addr().unwrap().port();
        if port < u16::MAX && TcpListener::bind((Ipv4Addr::LOCALHOST, port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no two consecutive free ports");
}

fn up_two_workers(dir: &Path, metrics_addr: String) {
    let mut args = common::UP_LOCAL_ON_FREE_PORTS.to_vec();
    args.extend(["--workers", "2"]);
    let up = sidefx_with(dir, &args, &[("WORKER_METRICS_ADDR", metrics_addr)]);
    assert!(up.status.success(), "{}", text(&up));
}

fn process<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["processes"]
        .as_array()
        .and_then(|list| list.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no process {name} in {report:#}"))
}

#[tokio::test]
async fn status_lists_every_worker_and_reports_a_stack_the_supervisor_stopped() {
    require_service_binaries();
    let stacks = StacksDir::new();
    let dir = stacks.path();
    let (code, report) = status(dir);
    assert_eq!(
        (code, report["state"].as_str()),
        (Some(3), Some("not_running"))
    );

    let port = two_free_ports();
    up_two_workers(dir, format!("127.0.0.1:{port}"));
    // Both workers up, each on its own metrics port (base + index).
    let client = reqwest::Client::new();
    for metrics_port in [port, port + 1] {
        let url = format!("http://127.0.0.1:{metrics_port}/metrics");
        poll_until(&url, Duration::from_secs(30), async || {
            let response = client.get(&url).send().await.ok()?;
            response.status().is_success().then_some(())
        })
        .await;
    }
    let (code, report) = status(dir);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["state"], "healthy");
    for worker in ["worker", "worker 2"] {
        assert_eq!(process(&report, worker)["status"], "running", "{report:#}");
    }
    // Each worker's own heartbeat, read through the API, names its pid.
    let pids: Vec<i64> = ["worker", "worker 2"]
        .map(|w| process(&report, w)["pid"].as_i64().unwrap())
        .into();
    let alive = poll_until(
        "both workers alive by their heartbeats",
        Duration::from_secs(30),
        async || {
            let (_, report) = status(dir);
            let workers = report["workers"].as_array()?.clone();
            let alive: Vec<i64> = workers
                .iter()
                .filter(|w| w["alive"] == true)
                .filter_map(|w| w["pid"].as_i64())
                .collect();
            pids.iter().all(|p| alive.contains(p)).then_some(alive)
        },
    )
    .await;
    assert_eq!(alive.len(), 2, "{alive:?}");

    // The API dies: the supervisor stops the whole stack and removes the state file.
    let api_pid = process(&report, "api")["pid"].as_i64().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(api_pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let report = poll_until("the stack to stop", Duration::from_secs(60), async || {
        let (code, report) = status(dir);
        (report["state"] == "stopped").then_some((code, report))
    })
    .await;
    assert_eq!(report.0, Some(1), "{:#}", report.1);
    let problems = report.1["problems"].to_string();
    assert!(problems.contains("api exited"), "{problems}");
}

#[tokio::test]
async fn a_crash_looping_worker_makes_status_fail_with_its_error() {
    require_service_binaries();
    let stacks = StacksDir::new();
    let dir = stacks.path();
    // The first worker's metrics port is taken: it exits at every start.
    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    up_two_workers(dir, format!("127.0.0.1:{port}"));
    let report = poll_until("a crash loop", Duration::from_secs(60), async || {
        let (code, report) = status(dir);
        (process(&report, "worker")["status"] == "crash-looping").then_some((code, report))
    })
    .await;
    let (code, report) = report;
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["state"], "unhealthy");
    assert!(process(&report, "worker")["restarts"].as_u64().unwrap() >= 3);
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("worker is crash-looping") && problems.contains(&port.to_string()),
        "the reason quotes the worker's error: {problems}"
    );
    let text_status = sidefx_with(dir, &["status"], &[]);
    assert_eq!(text_status.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&text_status.stdout).contains("worker 2"),
        "{}",
        text(&text_status)
    );
    drop(taken);
}
