//! `sidefx runs show` against the real stack (the test kit's broker, API and worker): a
//! completed run's status, receipt and timeline ending in `run.completed`, as text and as
//! JSON lines; `--follow` of a run still waiting for its worker prints it live and returns
//! when the stream ends; an unknown run exits 1 and an unreachable API 2.

mod common;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use common::{StacksDir, text};
use serde_json::{Value, json};
use sidefx_core::RunStatus;
use sidefx_testkit::TestStack;

const DEADLINE: Duration = Duration::from_secs(60);

/// `sidefx ARGS`, off the runtime's threads.
async fn sidefx(dir: PathBuf, args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::sidefx(&dir, &args, DEADLINE)
    })
    .await
    .expect("sidefx runs")
}

fn show_args(api: &str, run: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["runs", "show", run, "--api", api];
    args.extend_from_slice(extra);
    args.into_iter().map(str::to_owned).collect()
}

/// The event types of the timeline lines of `out`, in order.
fn timeline_kinds(out: &str) -> Vec<String> {
    let lines = out.lines().skip_while(|l| !l.starts_with("Timeline"));
    lines
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let seconds = words.next()?;
            seconds.strip_suffix('s')?.parse::<f64>().ok()?;
            words.next().map(str::to_owned)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_run_shows_its_receipt_and_timeline_as_text_and_json() {
    let stacks = StacksDir::new();
    let mut stack = TestStack::spawn().await;
    let run = stack
        .post_run(json!({"business_key": "show-1"}), None)
        .await;
    stack
        .wait_status(&run, RunStatus::Completed, DEADLINE)
        .await;
    let api = stack.api_url.clone();

    let out = sidefx(stacks.path().into(), show_args(&api, run.as_str(), &[])).await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("status completed"), "{stdout}");
    assert!(
        stdout.contains("receipt: ticket tickets/ticket_show-1.json"),
        "{stdout}"
    );
    let kinds = timeline_kinds(&stdout);
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("run.created"),
        "{stdout}"
    );
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("run.completed"),
        "{stdout}"
    );
    assert!(kinds.iter().any(|k| k == "side_effect.done"), "{stdout}");

    let out = sidefx(
        stacks.path().into(),
        show_args(&api, run.as_str(), &["--json"]),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines[0]["run"]["status"], "completed", "{lines:?}");
    assert_eq!(lines[0]["run"]["effects"].as_array().map(Vec::len), Some(1));
    let seqs: Vec<u64> = lines[1..]
        .iter()
        .map(|l| l["seq"].as_u64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    assert_eq!(lines.last().unwrap()["event"]["type"], "run.completed");
    assert_eq!(
        lines.len() - 1,
        kinds.len(),
        "text and JSON show the same events"
    );

    // Following a finished run prints it and returns: nothing more will come.
    let out = sidefx(
        stacks.path().into(),
        show_args(&api, run.as_str(), &["--follow"]),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("nothing more to follow"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_prints_a_live_run_until_its_stream_ends() {
    let stacks = StacksDir::new();
    // No worker yet: the run waits queued while `runs show --follow` starts. Two failures a
    // second apart keep it going for a while once the worker is there.
    let mut stack = TestStack::builder()
        .workers(0)
        .worker_env("WORKER_RETRY_BASE_MS", "1000")
        .worker_env("WORKER_RETRY_MAX_MS", "1000")
        .spawn()
        .await;
    let run = stack
        .post_run(
            json!({"business_key": "follow-1", "fail_before_effect_n": 2}),
            None,
        )
        .await;
    let args = show_args(&stack.api_url, run.as_str(), &["--follow"]);
    let following = tokio::spawn(sidefx(stacks.path().into(), args));
    stack.add_worker();
    let out = following.await.expect("the follow finishes");
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("nothing more to follow"),
        "it followed live: {stdout}"
    );
    let kinds = timeline_kinds(&stdout);
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("run.completed"),
        "{stdout}"
    );
    let created = kinds.iter().filter(|k| *k == "run.created").count();
    assert_eq!(
        created, 1,
        "history and stream overlap without repeats: {stdout}"
    );
    assert!(
        kinds.iter().filter(|k| *k == "step.failed").count() >= 2,
        "{stdout}"
    );
    // The status printed after the stream ended is the run's final one.
    let tail: Vec<&str> = stdout.lines().rev().take(4).collect();
    assert!(
        tail.iter().any(|l| l.contains("status completed")),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_run_exits_1_and_an_unreachable_api_2() {
    let stacks = StacksDir::new();
    let stack = TestStack::builder().workers(0).spawn().await;
    let out = sidefx(
        stacks.path().into(),
        show_args(&stack.api_url, "no-such-run", &[]),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("knows no run no-such-run"),
        "{}",
        text(&out)
    );

    let api = common::unreachable_api();
    let out = sidefx(stacks.path().into(), show_args(&api, "run-1", &[])).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("sidefx status"), "{}", text(&out));
}
