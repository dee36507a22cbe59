//! `sidefx torture` at CI size, end to end with the real binaries: the crash-point matrix
//! (4 crash points x 1 and 3 workers x 2 runs), a kill storm (30 runs, a worker SIGKILLed
//! every 400 ms), the API SIGKILLed twice under 20 runs, and DriftQ SIGKILLed three times
//! under 40 runs with two workers. Asserts from its JSON: no duplicate, nothing lost, every
//! run ended as it asked, verify clean everywhere.

mod common;

use std::time::Duration;

use common::{StacksDir, require_service_binaries, sidefx, text};

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

/// Runs `sidefx torture --json` with `extra` arguments on throwaway stacks and checks every
/// scenario's invariants; returns the scenarios for further checks.
fn torture(extra: &[&str]) -> Vec<serde_json::Value> {
    require_service_binaries();
    let stacks = StacksDir::new();
    let dir = stacks.path().to_str().expect("utf-8 temp path").to_owned();
    let mut args = vec!["torture", "--json", "--dir", &dir];
    args.extend_from_slice(&["--dead-letter-every", "5", "--timeout", "90"]);
    args.extend_from_slice(extra);
    let out = sidefx(stacks.path(), &args, Duration::from_secs(300));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out)));
    let scenarios = report["scenarios"].as_array().expect("scenarios").clone();
    for s in &scenarios {
        let name = s["name"].as_str().unwrap_or("?");
        for zero in ["duplicates", "lost", "wrong_end", "refused"] {
            assert_eq!(s[zero], 0, "{name}: {zero}\n{}", text(&out));
        }
        assert_eq!(s["verify_clean"], true, "{name}\n{}", text(&out));
        assert!(s["redrives"].is_u64(), "{name}: redrives counted");
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
