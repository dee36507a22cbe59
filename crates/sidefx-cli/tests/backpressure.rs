//! Backpressure, end to end: with the workers stopped, fill the broker until it refuses
//! commands, and then the API's run outbox (`API_MAX_PENDING_RUNS`) until `POST /runs`
//! answers 503 with Retry-After; start the workers again, re-send the refused requests with
//! their Idempotency-Key, and check that every accepted run completes (or dead-letters, as
//! some ask to), that every dead letter is archived, and that `sidefx verify` is clean — then
//! that it exits 1 and names the violation once a ticket is deleted behind its back.

mod common;

use std::time::Duration;

use std::process::Command;

use common::{SIDEFX, StacksDir, require_service_binaries, run, sidefx, text};
use sidefx_testkit::poll_until;

/// More runs than DriftQ buffers for 8 partitions (100 each) before refusing, plus the
/// outbox's bound.
const MAX_RUNS: usize = 1500;
/// The API's outbox bound in this test: accepted runs the broker has not taken yet.
const MAX_PENDING_RUNS: &str = "40";
/// Requests in flight while filling.
const CONCURRENCY: usize = 8;

struct Run {
    key: String,
    dead_letter: bool,
    run_id: Option<String>,
}

fn body(run: &Run) -> serde_json::Value {
    let (fail, max) = if run.dead_letter { (2, 2) } else { (0, 3) };
    serde_json::json!({"business_key": run.key, "amount": 5.0,
        "fail_before_effect_n": fail, "max_attempts": max})
}

/// POSTs `run` once; Ok(run id), or Err(status) with the 503's Retry-After checked.
async fn post(client: &reqwest::Client, api: &str, run: &Run) -> Result<String, u16> {
    let response = client
        .post(format!("{api}/runs"))
        .header("Idempotency-Key", format!("bp-{}", run.key))
        .json(&body(run))
        .send()
        .await
        .expect("the API answers");
    let status = response.status().as_u16();
    if status == 503 {
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(
            retry_after.is_some_and(|v| v.parse::<u64>().is_ok()),
            "503 without Retry-After"
        );
        return Err(503);
    }
    assert_eq!(status, 200, "{}", response.text().await.unwrap_or_default());
    let created: serde_json::Value = response.json().await.expect("JSON");
    Ok(created["run_id"].as_str().expect("run_id").to_owned())
}

/// Submits waves of runs until one wave saw a 503; returns every run (accepted or not).
async fn fill(client: &reqwest::Client, api: &str) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    while runs.len() < MAX_RUNS {
        let start = runs.len();
        let mut wave = tokio::task::JoinSet::new();
        for i in start..start + CONCURRENCY {
            let run = Run {
                key: format!("bp-{i}"),
                dead_letter: i % 10 == 9,
                run_id: None,
            };
            let (client, api) = (client.clone(), api.to_owned());
            wave.spawn(async move {
                let answer = post(&client, &api, &run).await;
                (run, answer)
            });
        }
        let mut refused = false;
        for (mut run, answer) in wave.join_all().await {
            refused |= answer.is_err();
            run.run_id = answer.ok();
            runs.push(run);
        }
        if refused {
            return runs;
        }
    }
    panic!("{MAX_RUNS} runs were accepted with the workers stopped: the API never pushed back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_broker_pushes_back_and_nothing_is_lost_when_workers_return() {
    require_service_binaries();
    let stacks = StacksDir::new();
    let dir = stacks.path().to_path_buf();
    let cli = |args: &'static [&'static str]| {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || sidefx(&dir, args, Duration::from_secs(120)))
    };
    let up = {
        let mut command = Command::new(SIDEFX);
        command
            .arg("--data-dir")
            .arg(&dir)
            .env("API_MAX_PENDING_RUNS", MAX_PENDING_RUNS);
        tokio::task::spawn_blocking(move || {
            run(
                command,
                common::UP_LOCAL_ON_FREE_PORTS,
                Duration::from_secs(120),
            )
        })
        .await
        .unwrap()
    };
    assert!(up.status.success(), "{}", text(&up));
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap()).unwrap();
    let api = state["api_url"].as_str().unwrap().to_owned();
    let stop = cli(&["chaos", "stop-worker"]).await.unwrap();
    assert!(stop.status.success(), "{}", text(&stop));

    let client = reqwest::Client::new();
    let mut runs = fill(&client, &api).await;
    let start = cli(&["chaos", "start-worker"]).await.unwrap();
    assert!(start.status.success(), "{}", text(&start));

    // Re-send each refused request with its key until the broker has room again.
    for run in runs.iter_mut().filter(|r| r.run_id.is_none()) {
        let id = poll_until(
            "a refused run to be accepted",
            Duration::from_secs(60),
            async || post(&client, &api, run).await.ok(),
        )
        .await;
        run.run_id = Some(id);
    }
    for run in &runs {
        let id = run.run_id.as_deref().unwrap();
        let want = if run.dead_letter {
            "dead_lettered"
        } else {
            "completed"
        };
        let url = format!("{api}/runs/{id}");
        let status = poll_until(
            "every run to finish",
            Duration::from_secs(180),
            async || {
                let view: serde_json::Value =
                    client.get(&url).send().await.ok()?.json().await.ok()?;
                let status = view["status"].as_str()?.to_owned();
                matches!(status.as_str(), "completed" | "dead_lettered").then_some(status)
            },
        )
        .await;
        assert_eq!(status, want, "run {id} ({})", run.key);
    }
    let dead = runs.iter().filter(|r| r.dead_letter).count();
    let archived = poll_until(
        "every dead letter to be archived",
        Duration::from_secs(30),
        async || {
            let dlq: serde_json::Value = client
                .get(format!("{api}/debug/dlq?limit=1000"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let count = dlq["count"].as_u64()? as usize;
            (count >= dead).then_some(count)
        },
    )
    .await;
    assert_eq!(
        archived, dead,
        "one archived dead letter per dead-lettering run"
    );

    let verify = cli(&["verify", "--settled"]).await.unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("verify: clean"),
        "{}",
        text(&verify)
    );

    // A ticket deleted behind the store's back: the effect is recorded without its proof.
    let key = &runs.iter().find(|r| !r.dead_letter).unwrap().key;
    std::fs::remove_file(dir.join(format!("artifacts/tickets/ticket_{key}.json"))).unwrap();
    let verify = cli(&["verify"]).await.unwrap();
    assert_eq!(verify.status.code(), Some(1), "{}", text(&verify));
    let out = String::from_utf8_lossy(&verify.stdout);
    assert!(
        out.contains("missing_ticket") && out.contains(key.as_str()),
        "{}",
        text(&verify)
    );
}
