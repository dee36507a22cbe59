//! Parser tests of the command line: defaults, flag combinations and conflicts.

use super::*;
use crate::demo::Scenario;
use crate::stack::{Mode, Service};

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("sidefx").chain(args.iter().copied()))
}

#[test]
fn definition_is_consistent() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}

#[test]
fn up_defaults_match_the_original_ports() {
    let cli = parse(&["up"]).unwrap();
    let Command::Up(up) = cli.command else {
        panic!("not up")
    };
    assert_eq!((up.api_port, up.driftq_port), (8000, 8080));
    assert_eq!(up.mode.requested(), None);
    assert!(!up.detached);
    assert_eq!(cli.data_dir, PathBuf::from(".sidefx"));
}

#[test]
fn up_local_detached_with_ports_and_data_dir() {
    let cli = parse(&[
        "up",
        "--local",
        "-d",
        "--api-port",
        "0",
        "--driftq-port",
        "9090",
        "--data-dir",
        "/tmp/x",
    ])
    .unwrap();
    let Command::Up(up) = cli.command else {
        panic!("not up")
    };
    assert_eq!(up.mode.requested(), Some(Mode::Local));
    assert!(up.detached);
    assert_eq!((up.api_port, up.driftq_port), (0, 9090));
    assert_eq!(cli.data_dir, PathBuf::from("/tmp/x"));
}

#[test]
fn docker_and_local_conflict() {
    assert!(parse(&["up", "--docker", "--local"]).is_err());
}

#[test]
fn yes_requires_wipe() {
    assert!(parse(&["down", "--yes"]).is_err());
    let cli = parse(&["down", "--wipe", "--yes", "--prune-images"]).unwrap();
    let Command::Down(down) = cli.command else {
        panic!("not down")
    };
    assert!(down.wipe && down.yes && down.prune_images);
}

#[test]
fn every_demo_scenario_parses() {
    for (name, scenario) in [
        ("run", Scenario::Run),
        ("crash", Scenario::Crash),
        ("crash-after-claim", Scenario::CrashAfterClaim),
        ("crash-before-mark-done", Scenario::CrashBeforeMarkDone),
        ("crash-after-mark-done", Scenario::CrashAfterMarkDone),
    ] {
        let cli = parse(&["demo", name, "--api", "http://h:1", "--timeout", "5"]).unwrap();
        let Command::Demo(demo) = cli.command else {
            panic!("not demo")
        };
        assert_eq!(demo.scenario, scenario);
        assert_eq!(demo.api.as_deref(), Some("http://h:1"));
        assert_eq!(demo.timeout, 5);
    }
    assert!(parse(&["demo", "explode"]).is_err());
}

#[test]
fn logs_and_chaos() {
    let cli = parse(&["logs", "worker", "-f", "--docker"]).unwrap();
    let Command::Logs(logs) = cli.command else {
        panic!("not logs")
    };
    assert_eq!(logs.service, Some(Service::Worker));
    assert!(logs.follow);
    assert_eq!(logs.mode.requested(), Some(Mode::Docker));
    let cli = parse(&["chaos", "kill-worker", "--local"]).unwrap();
    let Command::Chaos(ChaosCommand::KillWorker(mode)) = cli.command else {
        panic!("not chaos")
    };
    assert_eq!(mode.requested(), Some(Mode::Local));
}
