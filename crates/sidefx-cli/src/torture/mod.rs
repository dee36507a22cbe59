//! `sidefx torture`: tries hard to make a side effect happen twice or get lost, and counts
//! from the API whether it did. Each scenario gets its own local stack (see `stack`), its load
//! and its chaos (`matrix`, `storm`, `restarts`), then a wait for quiescence and a settled
//! `/debug/verify` (`scenario`); `evidence` counts — the effect's ledger (`executions`) judges,
//! the runs' `side_effect.executing` events (`announcements`) inform — and `report` prints.

mod announcements;
mod args;
mod evidence;
mod executions;
mod matrix;
mod report;
mod restarts;
mod scenario;
mod stack;
mod storm;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

pub use args::{ScenarioKind, TortureArgs};
use report::TortureReport;
use scenario::{Chaos, Scenario, Settings};
use stack::WorkerTuning;

use crate::stack::effect::EffectMode;
use crate::stack::{DataDir, Service};
use crate::ui::Style;

/// `sidefx torture`: exit 0 when every scenario passed, 1 otherwise.
pub async fn run(args: &TortureArgs, style: Style) -> Result<ExitCode> {
    let (root, mut temp) = work_dir(args.dir.as_ref())?;
    let settings = Settings {
        concurrency: args.concurrency,
        timeout: Duration::from_secs(args.timeout),
        tuning: WorkerTuning {
            lease_ms: args.lease_ms,
            retry_base_ms: args.retry_base_ms,
            redrive_after_ms: args.redrive_after_ms,
        },
        provider_faults: args.provider_faults(),
    };
    let mut results = Vec::new();
    for (index, scenario) in plan(args).into_iter().enumerate() {
        let name = format!("{} ({}w)", scenario.name, scenario.workers);
        eprintln!(
            "{} {name}: {} runs …",
            style.bold("torture"),
            scenario.specs.len()
        );
        let dir = DataDir::new(&root.join(format!("{index:02}-{}", slug(&scenario.name))))?;
        let result = match scenario::run(scenario, dir, settings).await {
            Ok(result) => result,
            Err(e) => {
                // Keep the logs: they say why the stack did not start or answer.
                let kept = temp.take().map(tempfile::TempDir::keep);
                let logs = kept.as_ref().unwrap_or(&root).display().to_string();
                return Err(e.context(format!("scenario {name} (logs in {logs})")));
            }
        };
        eprintln!(
            "  {} in {:.1}s",
            if result.passed() {
                style.ok("passed")
            } else {
                style.err("FAILED")
            },
            result.elapsed_ms as f64 / 1000.0
        );
        results.push(result);
    }
    let passed = results.iter().all(evidence::ScenarioResult::passed);
    // A temp dir is deleted when everything passed; otherwise its logs explain the failure.
    let keep = !passed || temp.is_none();
    let report = TortureReport {
        passed,
        scenarios: results,
        dir: keep.then(|| root.display().to_string()),
    };
    if let Some(temp) = temp.filter(|_| keep) {
        let _ = temp.keep();
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report::print_table(&report, style);
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Every scenario the flags ask for, in order: matrix cells, storm, broker, API — once per
/// effect mode (ticket first), provider scenarios labelled `[provider]`.
fn plan(args: &TortureArgs) -> Vec<Scenario> {
    let mut scenarios = Vec::new();
    for effect in args.effect.modes() {
        let first = scenarios.len();
        plan_effect(args, effect, &mut scenarios);
        if effect == EffectMode::Provider {
            for scenario in &mut scenarios[first..] {
                scenario.name.push_str(" [provider]");
            }
        }
    }
    scenarios
}

/// The scenarios of one effect mode.
fn plan_effect(args: &TortureArgs, effect: EffectMode, scenarios: &mut Vec<Scenario>) {
    let wants = |kind| args.scenarios.contains(&kind);
    let runs = |tag, n| matrix::runs(tag, n, sidefx_core::FailMode::None, args.dead_letter_every);
    if wants(ScenarioKind::Matrix) {
        scenarios.extend(matrix::scenarios(args, effect));
    }
    if wants(ScenarioKind::Storm) {
        scenarios.push(Scenario {
            name: format!("storm: kill a worker every {} ms", args.kill_every_ms),
            workers: args.storm_workers,
            specs: runs("storm", args.storm_runs),
            chaos: Chaos::Storm(Duration::from_millis(args.kill_every_ms.max(1))),
            effect,
        });
    }
    for (kind, service, label, n) in [
        (
            ScenarioKind::Broker,
            Service::Driftq,
            "broker",
            args.broker_runs,
        ),
        (ScenarioKind::Api, Service::Api, "api", args.api_runs),
    ] {
        if wants(kind) {
            scenarios.push(Scenario {
                name: format!("{label}: killed {}x mid-load", args.restarts),
                workers: args.workers,
                specs: runs(label, n),
                chaos: Chaos::Restart(service, args.restarts),
                effect,
            });
        }
    }
}

/// `--dir`, or a fresh temp dir (returned too, so the caller decides whether it stays).
fn work_dir(dir: Option<&PathBuf>) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            Ok((dir.clone(), None))
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("sidefx-torture-")
                .tempdir()
                .context("cannot create a temp dir")?;
            Ok((temp.path().to_path_buf(), Some(temp)))
        }
    }
}

/// A directory name for a scenario label.
fn slug(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    slug.split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}
