//! A real `sidefx-worker` process against commands produced straight to `sidefx.commands`,
//! bypassing the API: a value that tries to forge log lines (newlines, ANSI escapes) is
//! logged escaped on one line, and a command for a run nobody created is dead-lettered
//! (archived, with its reason) without executing anything.

mod common;

use std::time::Duration;

use driftq_client::ProduceRequest;
use sidefx_core::{COMMANDS_TOPIC, Command, RunCommand};
use sidefx_testkit::{TestStack, poll_until};

const DEADLINE: Duration = Duration::from_secs(30);

/// What the forged lines start with: a timestamp and level, as the text format writes them.
const FORGED_PREFIX: &str = "2099-01-01T00:00:00.000000Z  INFO";

async fn produce(stack: &TestStack, value: String) {
    stack
        .client
        .produce(&ProduceRequest::new(COMMANDS_TOPIC, value))
        .await
        .expect("produce");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_value_cannot_forge_log_lines() {
    let mut stack = common::stack().workers(0).spawn().await;
    stack.set_worker_env("LOG_FORMAT", "text");
    stack.add_worker();
    stack.wait_workers_ready(DEADLINE).await;
    let forged = format!(
        "{{\"type\":\"run.command\n{FORGED_PREFIX} sidefx_worker: payment approved \
         \x1b[2K\x1b[1A{}\n{FORGED_PREFIX} done",
        "x".repeat(8 * 1024)
    );
    produce(&stack, forged).await;
    let log = poll_until("the undecodable command's log line", DEADLINE, || {
        let log = std::fs::read_to_string(stack.log_path(1)).unwrap_or_default();
        async move { log.contains("undecodable command").then_some(log) }
    })
    .await;
    let line = log
        .lines()
        .find(|l| l.contains("undecodable command"))
        .expect("the line");
    assert!(line.contains(r"\n2099-01-01"), "escaped in place: {line}");
    assert!(
        line.contains("bytes)"),
        "cut with a marker: {} bytes",
        line.len()
    );
    assert!(
        line.len() < 2048,
        "one short line, not 8 KB: {} bytes",
        line.len()
    );
    for l in log.lines() {
        assert!(!l.starts_with(FORGED_PREFIX), "forged line: {l}");
    }
    assert!(
        !log.contains('\x1b'),
        "no raw escape sequence reached the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_for_an_unknown_run_is_dead_lettered_not_executed() {
    let mut stack = common::stack().spawn().await;
    stack.wait_workers_ready(DEADLINE).await;
    let ghost: RunCommand = common::command("ghost-run");
    produce(
        &stack,
        serde_json::to_string(&Command::Run(ghost.clone())).expect("encode"),
    )
    .await;
    let store = stack.store.clone();
    let record = poll_until("the refusal in the dead-letter archive", DEADLINE, || {
        let (store, run_id) = (store.clone(), ghost.run_id.clone());
        async move {
            let records = store.list_dead_letters(10).await.expect("list");
            records.into_iter().find(|r| r.run_id == run_id)
        }
    })
    .await;
    assert!(record.refused, "{record:?}");
    assert!(record.error.starts_with("run_id:"), "{record:?}");
    stack.supervise();
    assert_eq!(stack.executions(&ghost.business_key).await, 0);
    assert!(stack.effects(&ghost.run_id).await.is_empty());
    assert!(stack.exits.is_empty(), "the worker did not crash");
}
