//! `sidefx dlq` against the real stack, on runs dead-lettered on purpose (`max_attempts` 1
//! and a failure before the effect): `list` shows them, `redrive` runs one again (and a second
//! redrive of it is refused with exit 1 and the API's reason), `redrive --all` selects by
//! business key, `discard` gives one up; an unreachable API exits 2.

mod common;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use common::{StacksDir, text};
use serde_json::{Value, json};
use sidefx_core::{RunId, RunStatus};
use sidefx_testkit::{TestStack, poll_until};

const DEADLINE: Duration = Duration::from_secs(60);

/// `sidefx dlq ARGS --api API`, off the runtime's threads.
async fn dlq(dir: PathBuf, api: &str, args: &[&str]) -> Output {
    let mut full = vec!["dlq"];
    full.extend_from_slice(args);
    full.extend(["--api", api]);
    let full: Vec<String> = full.into_iter().map(str::to_owned).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = full.iter().map(String::as_str).collect();
        common::sidefx(&dir, &args, DEADLINE)
    })
    .await
    .expect("sidefx dlq")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A run that fails its only attempt before the effect: dead-lettered, nothing executed.
async fn dead_lettered(stack: &mut TestStack, key: &str) -> RunId {
    let body = json!({"business_key": key, "max_attempts": 1, "fail_before_effect_n": 1});
    let run = stack.post_run(body, None).await;
    stack
        .wait_status(&run, RunStatus::DeadLettered, DEADLINE)
        .await;
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_redriven_once_and_discarded() {
    let stacks = StacksDir::new();
    let dir: PathBuf = stacks.path().into();
    let mut stack = TestStack::spawn().await;
    let api = stack.api_url.clone();
    let redriven = dead_lettered(&mut stack, "dlq-redrive").await;
    let discarded = dead_lettered(&mut stack, "dlq-discard").await;

    // The archive is written by the worker as it consumes the DLQ topic: wait for both.
    let listed = poll_until("both dead letters listed", DEADLINE, async || {
        let out = dlq(dir.clone(), &api, &["list", "--json"]).await;
        assert!(out.status.success(), "{}", text(&out));
        let body: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let ids: Vec<String> = body["items"]
            .as_array()?
            .iter()
            .filter_map(|r| r["run_id"].as_str().map(str::to_owned))
            .collect();
        (ids.contains(&redriven.to_string()) && ids.contains(&discarded.to_string())).then_some(ids)
    })
    .await;
    assert!(listed.len() >= 2, "{listed:?}");
    let table = dlq(dir.clone(), &api, &["list"]).await;
    assert!(table.status.success(), "{}", text(&table));
    assert!(
        stdout(&table).contains(redriven.as_str()),
        "{}",
        text(&table)
    );
    assert!(
        stdout(&table).contains(" dead_lettered "),
        "{}",
        text(&table)
    );

    let out = dlq(
        dir.clone(),
        &api,
        &["redrive", redriven.as_str(), "--reason", "fixed"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains(&format!("{redriven} redriven")),
        "{}",
        text(&out)
    );
    // Its one attempt failed on purpose; the redrive is a new attempt, which succeeds.
    stack
        .wait_status(&redriven, RunStatus::Completed, DEADLINE)
        .await;
    stack.assert_run_charged_once(&redriven).await;

    // Its dead letter stays in the archive; the table says where the run is now.
    let table = dlq(dir.clone(), &api, &["list"]).await;
    let line = stdout(&table)
        .lines()
        .find(|l| l.starts_with(redriven.as_str()))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("{}", text(&table)));
    assert!(line.contains(" completed "), "{line}");

    let again = dlq(dir.clone(), &api, &["redrive", redriven.as_str()]).await;
    assert_eq!(again.status.code(), Some(1), "refused: {}", text(&again));
    assert!(stdout(&again).contains("not redriven"), "{}", text(&again));

    let no_reason = dlq(dir.clone(), &api, &["discard", discarded.as_str()]).await;
    assert_eq!(
        no_reason.status.code(),
        Some(2),
        "a reason is required: {}",
        text(&no_reason)
    );
    let out = dlq(
        dir.clone(),
        &api,
        &["discard", discarded.as_str(), "--reason", "refunded"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let row = stack.store.get_run(&discarded).await.unwrap().expect("run");
    assert_eq!(row.status.as_str(), "discarded");
    let out = dlq(dir, &api, &["redrive", discarded.as_str()]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "a discarded run stays so: {}",
        text(&out)
    );
    assert_eq!(
        stack.executions(&row.business_key).await,
        0,
        "never executed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_all_takes_the_runs_of_one_business_key() {
    let stacks = StacksDir::new();
    let dir: PathBuf = stacks.path().into();
    let mut stack = TestStack::spawn().await;
    let api = stack.api_url.clone();
    let chosen = dead_lettered(&mut stack, "dlq-all-a").await;
    let other = dead_lettered(&mut stack, "dlq-all-b").await;

    let out = dlq(
        dir.clone(),
        &api,
        &[
            "redrive",
            "--all",
            "--business-key",
            "dlq-all-a",
            "--reason",
            "batch",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains(&format!("{chosen} redriven")),
        "{}",
        text(&out)
    );
    assert!(!stdout(&out).contains(other.as_str()), "{}", text(&out));
    stack
        .wait_status(&chosen, RunStatus::Completed, DEADLINE)
        .await;
    let row = stack.store.get_run(&other).await.unwrap().expect("run");
    assert_eq!(
        row.status,
        RunStatus::DeadLettered,
        "the other key is left alone"
    );

    let both = dlq(dir, &api, &["redrive", "--all", "other-run-id"]).await;
    assert_eq!(both.status.code(), Some(2), "ids or --all: {}", text(&both));
}

#[test]
fn an_unreachable_api_exits_2_with_a_hint() {
    let stacks = StacksDir::new();
    let api = common::unreachable_api();
    for args in [
        vec!["dlq", "list", "--api", &api],
        vec!["dlq", "redrive", "run-1", "--api", &api],
    ] {
        let out = common::sidefx(stacks.path(), &args, DEADLINE);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains("sidefx status"), "{}", text(&out));
    }
}
