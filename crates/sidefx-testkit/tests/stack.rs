//! `TestStack::spawn()` as another crate's test uses it: the worker binary found in the
//! target directory (built by `cargo build --workspace --bins`), one run done exactly once.

use std::time::Duration;

use serde_json::json;
use sidefx_core::RunStatus;
use sidefx_testkit::TestStack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_completes_with_one_execution() {
    let mut stack = TestStack::spawn().await;
    let run = stack.post_run(json!({"business_key": "kit-1"}), None).await;
    stack
        .wait_status(&run, RunStatus::Completed, Duration::from_secs(60))
        .await;
    stack.assert_run_charged_once(&run).await;
    assert_eq!(stack.ticket_count().await, 1);
    assert!(stack.exits.is_empty(), "{}", stack.logs());
}
