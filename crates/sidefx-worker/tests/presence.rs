//! The worker's presence, seen from the API (`GET /debug/workers`) with the real stack: a
//! worker appears alive at start, reports the step it has in hand, and after SIGTERM reads
//! stopped; a worker killed with SIGKILL never says it stopped and reads not alive once its
//! beats are three intervals old.

mod common;

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use sidefx_core::RunStatus;
use sidefx_provider::{FaultRates, Rate};
use sidefx_testkit::{Effect, TestStack, poll_until};

const DEADLINE: Duration = Duration::from_secs(30);
/// Short beats, so that "three beats missed" takes a fraction of a second.
const HEARTBEAT_MS: &str = "100";

/// The worker with process id `pid`, as `GET /debug/workers` lists it, if it does.
async fn worker_row(stack: &TestStack, pid: u32) -> Option<Value> {
    let url = format!("{}/debug/workers", stack.api_url);
    let response = stack
        .http
        .get(url)
        .send()
        .await
        .expect("GET /debug/workers");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    let workers = body["workers"].as_array().expect("a workers list").clone();
    workers.into_iter().find(|w| w["pid"] == json!(pid))
}

/// Polls until the row of `pid` satisfies `wanted`; returns it.
async fn wait_row(stack: &TestStack, pid: u32, what: &str, wanted: fn(&Value) -> bool) -> Value {
    poll_until(what, DEADLINE, async || {
        worker_row(stack, pid).await.filter(wanted)
    })
    .await
}

fn signal(pid: u32, signal: Signal) {
    let pid = Pid::from_raw(i32::try_from(pid).expect("pid"));
    kill(pid, signal).expect("signal sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_is_alive_with_its_steps_in_hand_then_stopped() {
    // Every charge is held 2 s at the provider: the step stays in hand long enough to be
    // seen in a beat (the timeout and the claim lease are raised above the hold).
    let rates = FaultRates {
        slow: Rate::ALWAYS,
        slow_for: Duration::from_secs(2),
        ..FaultRates::default()
    };
    let mut stack = common::stack()
        .effect(Effect::Provider(rates))
        .worker_env("WORKER_HEARTBEAT_MS", HEARTBEAT_MS)
        .worker_env("WORKER_CLAIM_LEASE_MS", "6000")
        .worker_env("WORKER_LEASE_MS", "6000")
        .worker_env("PROVIDER_TIMEOUT_MS", "4000")
        .spawn()
        .await;
    let pid = stack.worker_pid(0);
    let row = wait_row(&stack, pid, "the worker to appear alive", |w| {
        w["alive"] == json!(true)
    })
    .await;
    assert_eq!(row["stopped_ms"], Value::Null, "{row}");
    assert_eq!(row["heartbeat_ms"], json!(100), "{row}");
    assert_eq!(row["effect"], json!("provider"), "{row}");
    assert!(
        row["owner"]
            .as_str()
            .is_some_and(|o| o.contains(&format!("-{pid}-"))),
        "{row}"
    );

    let run = stack
        .post_run(json!({"business_key": "presence-1"}), None)
        .await;
    wait_row(&stack, pid, "the step in hand", |w| {
        w["steps_in_hand"] == json!(1)
    })
    .await;
    stack
        .wait_status(&run, RunStatus::Completed, DEADLINE)
        .await;
    wait_row(&stack, pid, "nothing in hand", |w| {
        w["steps_in_hand"] == json!(0)
    })
    .await;

    signal(pid, Signal::SIGTERM);
    let code = stack.wait_worker_exit(0, DEADLINE).await;
    assert_eq!(code, Some(0), "{}", stack.logs());
    // The stop is written before the process exits: no waiting needed to see it.
    let row = worker_row(&stack, pid).await.expect("the row stays");
    assert_eq!(row["alive"], json!(false), "{row}");
    let stopped = row["stopped_ms"].as_i64().expect("stopped_ms set");
    assert_eq!(row["last_seen_ms"], json!(stopped), "{row}");
    assert!(
        stack.logs().contains("worker row marked stopped"),
        "{}",
        stack.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_reads_not_alive_without_a_stop() {
    let mut stack = common::stack()
        .worker_env("WORKER_HEARTBEAT_MS", HEARTBEAT_MS)
        .spawn()
        .await;
    let pid = stack.worker_pid(0);
    wait_row(&stack, pid, "the worker to appear alive", |w| {
        w["alive"] == json!(true)
    })
    .await;
    signal(pid, Signal::SIGKILL);
    let code = stack.wait_worker_exit(0, DEADLINE).await;
    assert_eq!(code, None, "killed by a signal");
    let row = wait_row(&stack, pid, "the killed worker to read not alive", |w| {
        w["alive"] == json!(false)
    })
    .await;
    assert_eq!(
        row["stopped_ms"],
        Value::Null,
        "it never said it stopped: {row}"
    );
}
