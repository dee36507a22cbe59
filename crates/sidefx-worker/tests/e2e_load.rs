//! End to end: three worker processes share 200 runs; every effect happens exactly once.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use sidefx_core::{EffectStatus, RunStatus};
use sidefx_testkit::poll_until;

const RUNS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_two_hundred_runs_no_duplicates() {
    let mut stack = common::stack().workers(3).spawn().await;
    stack.wait_workers_ready(Duration::from_secs(30)).await;
    let runs: Vec<_> = futures::stream::iter(0..RUNS)
        .map(|i| stack.post_run(json!({"business_key": format!("load-{i}")}), None))
        .buffer_unordered(8)
        .collect()
        .await;
    let store = stack.store.clone();
    poll_until("200 completed runs", Duration::from_secs(180), || {
        stack.supervise();
        let store = store.clone();
        async move {
            let rows = store.list_runs(1000).await.expect("runs");
            (rows
                .iter()
                .filter(|r| r.status == RunStatus::Completed)
                .count()
                == RUNS)
                .then_some(())
        }
    })
    .await;
    assert!(
        stack.exits.is_empty(),
        "no worker died: {:?}\n{}",
        stack.exits,
        stack.logs()
    );
    let effects = stack.store.list_effects(1000).await.expect("effects");
    assert_eq!(effects.len(), RUNS);
    assert!(effects.iter().all(|e| e.status == EffectStatus::Done));
    let unique: HashSet<_> = effects.iter().map(|e| e.run_id.clone()).collect();
    assert_eq!(unique.len(), RUNS);
    assert_eq!(unique, runs.into_iter().collect::<HashSet<_>>());
    assert_eq!(stack.ticket_count().await, RUNS);
    let owners: HashSet<_> = effects.iter().filter_map(|e| e.owner.clone()).collect();
    assert!(owners.len() >= 2, "the work was shared: {owners:?}");
}
