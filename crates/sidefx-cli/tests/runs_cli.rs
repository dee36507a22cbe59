//! `sidefx runs list` against a real API (the test kit's stack, no worker, so runs stay
//! queued): pages with a `--before` hint, filters, JSON, and an exit code of 2 with a hint
//! when the API cannot be asked.

mod common;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use common::{StacksDir, text};
use serde_json::{Value, json};
use sidefx_testkit::TestStack;

/// `sidefx runs list ARGS --api URL`, off the runtime's threads.
async fn list(dir: PathBuf, api: &str, args: &[&str]) -> Output {
    let mut full = vec!["runs", "list", "--api", api];
    full.extend_from_slice(args);
    let full: Vec<String> = full.into_iter().map(str::to_owned).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = full.iter().map(String::as_str).collect();
        common::sidefx(&dir, &args, Duration::from_secs(30))
    })
    .await
    .expect("sidefx runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_list_pages_filters_and_prints_json() {
    let stacks = StacksDir::new();
    let dir = stacks.path().to_path_buf();
    let stack = TestStack::builder().workers(0).spawn().await;
    let mut posted = Vec::new();
    for key in ["order-a", "order-b", "order-a"] {
        posted.push(stack.post_run(json!({ "business_key": key }), None).await);
    }
    let api = stack.api_url.clone();

    let first = list(dir.clone(), &api, &["--limit", "2"]).await;
    assert!(first.status.success(), "{}", text(&first));
    let out = String::from_utf8_lossy(&first.stdout).to_string();
    let rows = out.lines().filter(|l| l.contains("queued")).count();
    assert_eq!(rows, 2, "{out}");
    let hint = out
        .lines()
        .find_map(|l| l.split_once("--before ").map(|(_, c)| c.trim().to_owned()))
        .unwrap_or_else(|| panic!("no --before hint: {out}"));
    assert!(
        out.contains("more: sidefx runs list --limit 2 --before "),
        "{out}"
    );

    let second = list(dir.clone(), &api, &["--limit", "2", "--before", &hint]).await;
    assert!(second.status.success(), "{}", text(&second));
    let out = String::from_utf8_lossy(&second.stdout).to_string();
    assert_eq!(
        out.lines().filter(|l| l.contains("queued")).count(),
        1,
        "{out}"
    );
    assert!(!out.contains("more:"), "the last page has no hint: {out}");

    let json = list(dir.clone(), &api, &["--business-key", "order-a", "--json"]).await;
    assert!(json.status.success(), "{}", text(&json));
    let body: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let mut listed: Vec<String> = body["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    let mut expected = vec![posted[0].to_string(), posted[2].to_string()];
    expected.sort();
    assert_eq!(listed, expected);

    let none = list(dir.clone(), &api, &["--status", "completed"]).await;
    assert!(none.status.success(), "{}", text(&none));
    assert!(String::from_utf8_lossy(&none.stdout).contains("no runs"));

    let bad = list(dir, &api, &["--status", "done"]).await;
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(text(&bad).contains("dead_lettered"), "{}", text(&bad));
}

#[test]
fn an_unreachable_api_exits_2_with_a_hint() {
    let stacks = StacksDir::new();
    let api = common::unreachable_api();
    let out = common::sidefx(
        stacks.path(),
        &["runs", "list", "--api", &api],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("sidefx status"), "{}", text(&out));
}
