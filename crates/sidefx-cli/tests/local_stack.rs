//! `sidefx` end to end with the real binaries: a local stack on free ports in a temp data dir,
//! the retry and crash demos with their exactly-once proof, and `down`. The service binaries
//! must exist next to `sidefx` (`cargo build --workspace --bins`, which `make test` runs first).
//! Every stack is stopped by a drop guard, also when an assertion fails.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::process::Output;
use std::time::Duration;

use nix::sys::signal::kill;
use nix::unistd::Pid;
use tempfile::TempDir;

use common::{require_service_binaries, text};
use sidefx_testkit::poll_until_blocking;

/// Longest any single `sidefx` command of these tests may take (a stack start waits up to a
/// minute for its services); it is killed by its PID after that.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);

/// A data dir for one stack; `down` runs when it is dropped.
struct Stack {
    dir: TempDir,
}

impl Stack {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn sidefx(&self, args: &[&str]) -> Output {
        common::sidefx(self.dir.path(), args, COMMAND_TIMEOUT)
    }

    fn state(&self) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.dir.path().join("state.json")).ok()?;
        Some(serde_json::from_str(&text).expect("state.json is JSON"))
    }

    /// PIDs of the supervisor and the three services, from the state file.
    fn pids(&self) -> Vec<i32> {
        let state = self.state().expect("a state file");
        ["supervisor", "driftq", "api", "worker"]
            .iter()
            .map(|name| state["local"][name]["pid"].as_i64().expect("a pid") as i32)
            .collect()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.state().is_some() {
            let _ = self.sidefx(&["down"]);
        }
    }
}

fn gone(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_err()
}

#[test]
fn local_stack_runs_both_demos_and_stops() {
    require_service_binaries();
    let stack = Stack::new();

    let up = stack.sidefx(common::UP_LOCAL_ON_FREE_PORTS);
    assert!(up.status.success(), "{}", text(&up));
    assert!(
        String::from_utf8_lossy(&up.stdout).contains("/docs"),
        "{}",
        text(&up)
    );
    let pids = stack.pids();
    assert!(pids.iter().all(|pid| !gone(*pid)), "{pids:?}");

    let again = stack.sidefx(common::UP_LOCAL_ON_FREE_PORTS);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already running"),
        "{}",
        text(&again)
    );

    for scenario in ["run", "crash"] {
        let demo = stack.sidefx(&["demo", scenario, "--timeout", "60"]);
        assert!(demo.status.success(), "demo {scenario}: {}", text(&demo));
        let out = String::from_utf8_lossy(&demo.stdout);
        assert!(
            out.contains("exactly once: 1 row, 1 ticket"),
            "demo {scenario}: {}",
            text(&demo)
        );
        assert!(
            out.contains("run.completed"),
            "demo {scenario}: {}",
            text(&demo)
        );
    }
    // The crash demo really crashed the worker, and the supervisor restarted it.
    let worker_log = std::fs::read_to_string(stack.dir.path().join("worker.log")).unwrap();
    assert!(worker_log.contains("exit code 137"), "{worker_log}");

    let down = stack.sidefx(&["down"]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(stack.state().is_none(), "down removes the state file");
    poll_until_blocking("every process to exit", Duration::from_secs(10), || {
        pids.iter().all(|pid| gone(*pid)).then_some(())
    });
}

#[test]
fn up_refuses_a_port_in_use() {
    let stack = Stack::new();
    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let up = stack.sidefx(&[
        "up",
        "--local",
        "--detached",
        "--api-port",
        &port,
        "--driftq-port",
        "0",
    ]);
    assert!(!up.status.success());
    let stderr = String::from_utf8_lossy(&up.stderr);
    // It names the knobs that move the port: make's variable and the flag.
    for expected in [
        format!("port {port} is already in use"),
        "API_PORT=".to_owned(),
        "--api-port".to_owned(),
    ] {
        assert!(stderr.contains(&expected), "{expected}: {}", text(&up));
    }
    assert!(
        stack.state().is_none(),
        "nothing is recorded for a stack that did not start"
    );
}

#[test]
fn wipe_without_a_terminal_needs_yes() {
    let stack = Stack::new();
    let down = stack.sidefx(&["down", "--wipe"]);
    assert!(!down.status.success());
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("--yes"),
        "{}",
        text(&down)
    );
    let down = stack.sidefx(&["down", "--wipe", "--yes"]);
    assert!(down.status.success(), "{}", text(&down));
}

#[test]
fn a_demo_without_an_api_says_how_to_start_one() {
    let stack = Stack::new();
    let api = common::unreachable_api();
    let demo = stack.sidefx(&["demo", "run", "--api", &api, "--timeout", "5"]);
    assert!(!demo.status.success());
    assert!(
        String::from_utf8_lossy(&demo.stderr).contains("sidefx up"),
        "{}",
        text(&demo)
    );
}
