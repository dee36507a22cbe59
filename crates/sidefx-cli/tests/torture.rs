//! `sidefx torture` at CI size, end to end with the real binaries: the crash-point matrix
//! (4 crash points x 1 and 3 workers x 2 runs), a kill storm (30 runs, a worker SIGKILLed
//! every 400 ms), the API SIGKILLed twice under 20 runs, and DriftQ SIGKILLed three times
//! under 40 runs with two workers. Asserts from its JSON: no duplicate, nothing lost, every
//! run ended as it asked, verify clean everywhere, every finished run's events read back. The
//! same in provider mode, with the provider's faults on, must find no double charge. And the
//! harness must be able to fail: a worker that ignores its claim (`SIDEFX_MUTATION=rerun_effect`)
//! must be caught, in both modes.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::{StacksDir, require_provider_binary, require_service_binaries, sidefx, text};

#[test]
fn torture_at_ci_size_finds_no_duplicate_and_loses_nothing() {
    #[rustfmt::skip]
    let scenarios = torture(&[
        "--scenarios", "matrix,storm,api",
        "--matrix-runs", "2", "--matrix-workers", "1,3",
        "--storm-runs", "30", "--storm-workers", "3", "--kill-every-ms", "400",
        "--api-runs", "20", "--restarts", "2",
    ]);
    assert_eq!(scenarios.len(), 8 + 2);
    // The non-matrix scenarios each include dead-lettering runs (every 5th).
    for s in &scenarios[8..] {
        assert!(s["dead_lettered"].as_u64().unwrap_or(0) >= 4, "{s}");
    }
}

#[test]
fn broker_restarts_under_load_lose_nothing_with_two_workers() {
    // Two workers on one partition is what lets a restarted DriftQ resume above a command one
    // of them still held (PROTOCOL Q1): the redrive sweeper has to recover such runs.
    #[rustfmt::skip]
    let scenarios = torture(&[
        "--scenarios", "broker", "--broker-runs", "40", "--restarts", "3", "--workers", "2",
    ]);
    assert_eq!(scenarios.len(), 1);
    assert!(scenarios[0]["dead_lettered"].as_u64().unwrap_or(0) >= 8);
}

#[test]
fn provider_mode_with_faults_charges_every_business_key_exactly_once() {
    require_provider_binary();
    #[rustfmt::skip]
    let scenarios = torture(&[
        "--effect", "provider", "--scenarios", "matrix,storm",
        "--matrix-runs", "3", "--matrix-workers", "1",
        "--storm-runs", "20", "--storm-workers", "2", "--kill-every-ms", "400",
    ]);
    assert_eq!(scenarios.len(), 4 + 1);
    for s in &scenarios {
        assert_eq!(s["effect"], "provider", "{s}");
        assert_eq!(s["charges_per_key"], 1, "{s}");
        assert!(s["repeats"].is_u64(), "{s}");
    }
}

#[test]
fn a_worker_that_ignores_its_claim_is_caught_in_ticket_mode() {
    require_service_binaries();
    assert_the_mutation_is_caught("ticket");
}

#[test]
fn a_worker_that_ignores_its_claim_is_caught_in_provider_mode() {
    require_provider_binary();
    assert_the_mutation_is_caught("provider");
}

/// One matrix cell where every run crashes after its effect, before the ack: the redelivery
/// must be skipped, so a worker that performs the effect on every delivery executes each
/// business key twice, and the execution count (not the rows) must say so.
fn assert_the_mutation_is_caught(effect: &str) {
    #[rustfmt::skip]
    let (out, report) = run_torture(&[
        "--effect", effect, "--scenarios", "matrix",
        "--matrix-crash-points", "crash-after-effect-before-ack",
        "--matrix-runs", "4", "--matrix-workers", "1", "--timeout", "60",
    ], Some(("SIDEFX_MUTATION", "rerun_effect")));
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(report["passed"], false, "{}", text(&out));
    let scenario = &report["scenarios"][0];
    assert!(
        scenario["duplicates"].as_u64().unwrap_or(0) > 0,
        "{effect}: {scenario}"
    );
    assert!(
        scenario["charges_per_key"].as_u64().unwrap_or(0) > 1,
        "{effect}: {scenario}"
    );
}

/// Runs `sidefx torture --json --dir <temp> <args>` (with `env` set) and parses its report.
fn run_torture(args: &[&str], env: Option<(&str, &str)>) -> (Output, serde_json::Value) {
    let stacks = StacksDir::new();
    let dir = stacks.path().to_str().expect("utf-8 temp path").to_owned();
    let mut command = Command::new(common::SIDEFX);
    command.arg("--data-dir").arg(stacks.path());
    command.envs(env);
    let mut all = vec!["torture", "--json", "--dir", &dir];
    all.extend_from_slice(args);
    let out = common::run(command, &all, Duration::from_secs(300));
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out)));
    (out, report)
}

/// Runs `sidefx torture --json` with `extra` arguments on throwaway stacks and checks every
/// scenario's invariants; returns the scenarios for further checks.
fn torture(extra: &[&str]) -> Vec<serde_json::Value> {
    require_service_binaries();
    let mut args = vec!["--dead-letter-every", "5", "--timeout", "90"];
    args.extend_from_slice(extra);
    let (out, report) = run_torture(&args, None);
    let scenarios = report["scenarios"].as_array().expect("scenarios").clone();
    for s in &scenarios {
        let name = s["name"].as_str().unwrap_or("?");
        for zero in ["duplicates", "lost", "wrong_end", "refused"] {
            assert_eq!(s[zero], 0, "{name}: {zero}\n{}", text(&out));
        }
        assert_eq!(s["verify_clean"], true, "{name}\n{}", text(&out));
        assert!(s["redrives"].is_u64(), "{name}: redrives counted");
        // Every finished run's event stream was read to its end, and some run announced.
        assert_eq!(s["executing_unread"], 0, "{name}\n{}", text(&out));
        assert!(s["executing"].as_u64().unwrap_or(0) >= 1, "{name}: {s}");
        assert_eq!(s["accepted"], s["submitted"], "{name}");
        assert!(
            s["kills"].as_u64().unwrap_or(0) > 0,
            "{name}: no kill landed"
        );
    }
    assert_eq!(report["passed"], true);
    assert!(out.status.success(), "{}", text(&out));
    scenarios
}

#[test]
fn torture_rejects_an_unknown_scenario() {
    let stacks = StacksDir::new();
    let out = sidefx(
        stacks.path(),
        &["torture", "--scenarios", "matrix,meteor"],
        Duration::from_secs(30),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("meteor"),
        "{}",
        text(&out)
    );
}
