//! `sidefx status`: every process of the recorded stack (each worker) with its restarts and
//! last exit, the health checks, and a verdict a script can test: exit 0 when healthy, 1 when
//! something is down, crash-looping or failing its health check (or the stack stopped on its
//! own, with the reason from the logs), 3 when no stack is running. The workers' own
//! heartbeats, read through the API, are listed too (`status_workers.rs`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use super::args::StatusArgs;
use super::children::Slot;
use super::state::{LocalProcesses, ProcessRecord, StackState};
use super::status_workers::{self, WorkerLine};
use super::{DataDir, Mode, Service, health_checks};
use crate::ui::Style;

/// Exit status of an unhealthy stack, or of one that stopped on its own.
const EXIT_UNHEALTHY: u8 = 1;
/// Exit status when no stack is running (the LSB code for "program is not running").
const EXIT_NOT_RUNNING: u8 = 3;
/// This many quick exits in a row make a crash loop (one crash demo makes one).
const CRASH_LOOP_EXITS: u32 = 3;
/// A crash loop is current while its last exit is at most this old (seconds).
const CRASH_LOOP_RECENT_SECS: u64 = 30;
/// Longest reason quoted from a log line.
const MAX_REASON_CHARS: usize = 300;

/// What `status` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Verdict {
    Healthy,
    Unhealthy,
    /// No state file, but the supervisor's log says the stack stopped on its own.
    Stopped,
    /// No stack, and none that failed.
    NotRunning,
}

/// The report, printed as text or (`--json`) as this JSON object.
#[derive(Debug, Serialize)]
struct Report {
    state: Verdict,
    data_dir: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<Mode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    effect: Option<&'static str>,
    processes: Vec<ProcessLine>,
    health: Vec<HealthLine>,
    /// The workers that beat in the last day (`GET /debug/workers`), when the API answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    workers: Option<Vec<WorkerLine>>,
    /// Why the workers could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    workers_error: Option<String>,
    /// Why the stack is not healthy, one sentence each.
    problems: Vec<String>,
}

/// One process of a local stack.
#[derive(Debug, Serialize)]
struct ProcessLine {
    name: String,
    pid: Option<u32>,
    /// `running`, `not running`, `not started`, `crash-looping` or `paused`.
    status: &'static str,
    restarts: u32,
    last_exit: Option<String>,
    last_exit_secs_ago: Option<u64>,
}

/// One health check.
#[derive(Debug, Serialize)]
struct HealthLine {
    name: &'static str,
    url: String,
    healthy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `sidefx status [--json]`.
pub async fn run(dir: &DataDir, args: &StatusArgs, style: Style) -> Result<ExitCode> {
    let report = match StackState::load(dir)? {
        Some(state) => {
            let mut report = inspect(dir, &state).await?;
            match status_workers::fetch(&state.api_url, args.admin_token.as_deref()).await {
                Ok(workers) => report.workers = Some(workers),
                Err(why) => report.workers_error = Some(why),
            }
            report
        }
        None => gone(dir),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report, style);
    }
    Ok(ExitCode::from(match report.state {
        Verdict::Healthy => 0,
        Verdict::Unhealthy | Verdict::Stopped => EXIT_UNHEALTHY,
        Verdict::NotRunning => EXIT_NOT_RUNNING,
    }))
}

/// No state file: the supervisor removes it when it stops, also when it stopped the stack
/// because DriftQ, the provider or the API died. Its log's last line tells which it was.
fn gone(dir: &DataDir) -> Report {
    let last = std::fs::read_to_string(dir.supervisor_log())
        .ok()
        .and_then(|log| {
            log.lines()
                .rev()
                .find(|l| l.contains("stack "))
                .map(str::to_owned)
        });
    let mut problems = Vec::new();
    if let Some(reason) = last
        .as_deref()
        .and_then(|l| l.split_once("stack stopped: "))
    {
        let reason = reason.1;
        problems.push(format!("the stack stopped on its own: {reason}"));
        let log = reason
            .rsplit_once("; see ")
            .map(|(_, path)| Path::new(path.trim()));
        if let Some(line) = log.and_then(last_error_line) {
            problems.push(format!("its last error: {line}"));
        }
    }
    Report {
        state: if problems.is_empty() {
            Verdict::NotRunning
        } else {
            Verdict::Stopped
        },
        data_dir: dir.root().display().to_string(),
        mode: None,
        effect: None,
        processes: Vec::new(),
        health: Vec::new(),
        workers: None,
        workers_error: None,
        problems,
    }
}

/// A recorded stack: its processes (local mode) and its health checks.
async fn inspect(dir: &DataDir, state: &StackState) -> Result<Report> {
    let mut problems = Vec::new();
    let processes = match &state.local {
        Some(local) => local_processes(dir, state, local, &mut problems),
        None => Vec::new(),
    };
    let client = crate::health::probe_client()?;
    let mut health = Vec::new();
    for check in health_checks(state) {
        let error = crate::health::probe(&client, &check.url).await.err();
        if let Some(why) = &error {
            problems.push(format!("{} health check failed: {why}", check.name));
        }
        health.push(HealthLine {
            name: check.name,
            url: check.url,
            healthy: error.is_none(),
            error,
        });
    }
    Ok(Report {
        state: if problems.is_empty() {
            Verdict::Healthy
        } else {
            Verdict::Unhealthy
        },
        data_dir: dir.root().display().to_string(),
        mode: Some(state.mode),
        effect: Some(state.effect.name()),
        processes,
        health,
        workers: None,
        workers_error: None,
        problems,
    })
}

/// The supervisor, each service and each worker, in start order; notes what is wrong.
fn local_processes(
    dir: &DataDir,
    state: &StackState,
    local: &LocalProcesses,
    problems: &mut Vec<String>,
) -> Vec<ProcessLine> {
    let mut slots: Vec<(String, Option<Slot>, Option<&ProcessRecord>)> =
        vec![("supervisor".to_owned(), None, local.supervisor.as_ref())];
    for service in state.services() {
        if service == Service::Worker {
            for index in 0..local.workers.max(1) as usize {
                let slot = Slot::worker(index);
                slots.push((slot.label(), Some(slot), local.worker_at(index)));
            }
        } else {
            let slot = Slot::single(service);
            slots.push((slot.label(), Some(slot), local.service(service)));
        }
    }
    let now = unix_now();
    let mut lines = Vec::new();
    for (name, slot, record) in slots {
        let exits = local.exits.get(&name);
        let ago = exits.map(|e| now.saturating_sub(e.last_exit_at));
        let looping = exits.is_some_and(|e| {
            e.quick_exits >= CRASH_LOOP_EXITS && ago.unwrap_or(u64::MAX) <= CRASH_LOOP_RECENT_SECS
        });
        let paused = local.workers_paused && slot.is_some_and(|s| s.service == Service::Worker);
        let status = match record {
            _ if paused => "paused",
            _ if looping => "crash-looping",
            Some(r) if r.is_ours() => "running",
            Some(_) => "not running",
            None => "not started",
        };
        if !matches!(status, "running" | "paused") {
            let log = slot
                .map(|s| dir.log_file(s.service))
                .unwrap_or(dir.supervisor_log());
            problems.push(problem(&name, status, exits.map(|e| e.restarts), &log));
        }
        lines.push(ProcessLine {
            name,
            pid: record.map(|r| r.pid),
            status,
            restarts: exits.map_or(0, |e| e.restarts),
            last_exit: exits.map(|e| e.last_exit.clone()),
            last_exit_secs_ago: ago,
        });
    }
    lines
}

/// "worker 2 is crash-looping (14 restarts): <its log's last error line>".
fn problem(name: &str, status: &str, restarts: Option<u32>, log: &Path) -> String {
    let restarts = restarts
        .map(|n| format!(" ({n} restarts)"))
        .unwrap_or_default();
    match last_error_line(log) {
        Some(line) => format!("{name} is {status}{restarts}: {line}"),
        None => format!("{name} is {status}{restarts}; see {}", log.display()),
    }
}

/// The last error a log holds: a `tracing` ERROR line, or the `Error: …` a binary's `main`
/// prints as it exits, with its `Caused by:` chain joined on one line.
fn last_error_line(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let is_error =
        |l: &&str| l.contains(" ERROR ") || l.starts_with("Error: ") || l.starts_with("error: ");
    let at = lines.iter().rposition(is_error)?;
    let mut found = lines[at].trim().to_owned();
    if found.starts_with("Error: ") {
        let causes = lines[at + 1..]
            .iter()
            .take_while(|l| l.is_empty() || l.starts_with(' ') || l.starts_with("Caused by"))
            .map(|l| l.trim())
            .filter(|l| !l.is_empty() && *l != "Caused by:")
            .map(|l| {
                l.trim_start_matches(|c: char| c.is_ascii_digit() || c == ':')
                    .trim()
            });
        // Error types that print their source repeat it: keep each cause once.
        for cause in causes {
            if !found.contains(cause) {
                found = format!("{found}: {cause}");
            }
        }
    }
    Some(found.chars().take(MAX_REASON_CHARS).collect())
}

fn print_text(report: &Report, style: Style) {
    let Some(mode) = report.mode else {
        println!("No stack running in {}.", report.data_dir);
        for problem in &report.problems {
            println!("{} {problem}", style.err("✘"));
        }
        return;
    };
    let mode = format!("{mode:?}").to_lowercase();
    let effect = report.effect.unwrap_or_default();
    println!(
        "{mode} stack recorded in {} (effect {effect})",
        report.data_dir
    );
    for p in &report.processes {
        let pid = p.pid.map(|pid| format!("pid {pid}")).unwrap_or_default();
        let state = format!("{:<13} {pid:<10}", p.status);
        let state = match p.status {
            "running" => style.ok(&state),
            "paused" => style.warn(&state),
            _ => style.err(&state),
        };
        let exits = match (&p.last_exit, p.last_exit_secs_ago) {
            (Some(exit), Some(ago)) => style.dim(&format!(
                "restarts {}, last exit: {exit} ({ago}s ago)",
                p.restarts
            )),
            _ => String::new(),
        };
        println!("  {:<11} {state} {exits}", p.name);
    }
    for h in &report.health {
        let line = match &h.error {
            None => style.ok("healthy"),
            Some(why) => style.err(why),
        };
        println!("  {:<11} {} {line}", h.name, h.url);
    }
    match (&report.workers, &report.workers_error) {
        (Some(workers), _) => status_workers::print(Ok(workers), style),
        (None, Some(why)) => status_workers::print(Err(why), style),
        (None, None) => {}
    }
    if report.problems.is_empty() {
        println!("{} Stack is up and healthy.", style.ok("✔"));
    } else {
        println!("{} Stack is unhealthy:", style.err("✘"));
        for problem in &report.problems {
            println!("  - {problem}");
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_error_joins_the_cause_chain() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("worker.log");
        let text = "2025-01-01T00:00:00Z  INFO worker started\n\
                    2025-01-01T00:00:01Z ERROR old failure\n\
                    Error: worker failed\n\nCaused by:\n    binding 127.0.0.1:9100: Address in use\n\
                    [sidefx supervisor] worker 2 exited (exit status: 1); restarting it\n";
        std::fs::write(&log, text).unwrap();
        assert_eq!(
            last_error_line(&log).unwrap(),
            "Error: worker failed: binding 127.0.0.1:9100: Address in use"
        );
        std::fs::write(&log, "all good\n").unwrap();
        assert_eq!(last_error_line(&log), None);
    }

    #[test]
    fn a_stack_the_supervisor_stopped_is_reported_with_its_reason() {
        let temp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(temp.path()).unwrap();
        assert_eq!(gone(&dir).state, Verdict::NotRunning);
        let api_log = dir.log_file(Service::Api);
        std::fs::write(&api_log, "2025-01-01T00:00:00Z ERROR store is gone\n").unwrap();
        let line = format!(
            "[sidefx supervisor] t=1 stack stopped: api exited (signal: 9 (SIGKILL)); see {}\n",
            api_log.display()
        );
        std::fs::write(dir.supervisor_log(), line).unwrap();
        let report = gone(&dir);
        assert_eq!(report.state, Verdict::Stopped);
        assert!(
            report.problems[0].contains("api exited"),
            "{:?}",
            report.problems
        );
        assert!(
            report.problems[1].contains("store is gone"),
            "{:?}",
            report.problems
        );
        std::fs::write(
            dir.supervisor_log(),
            "[sidefx supervisor] t=2 stack stopped\n",
        )
        .unwrap();
        assert_eq!(gone(&dir).state, Verdict::NotRunning, "a clean stop");
    }
}
