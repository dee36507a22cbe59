//! `GET /debug/verify` over a large store: builds (once) a store of N completed runs with
//! their done effects and tickets through the Store API, then times one verify and C
//! concurrent ones through the router, and prints the process's RSS before and after.
//! No network: the router is called in-process, and its broker URL points at a closed port.
//!
//! ```text
//! cargo run -p sidefx-api --example verify_load -- --dir /tmp/verify-load --runs 20000
//! ```

#![allow(
    clippy::print_stdout,
    reason = "an example reports its figures on stdout"
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use sidefx_api::{ApiConfig, AppState};
use sidefx_core::{
    Artifacts, BusinessKey, NewClaim, NewRun, Receipt, RunCommand, RunId, RunStatus, StepId, Store,
    Ticket, events_topic, now_ms,
};
use tower::ServiceExt;

/// Command line of the verify benchmark.
#[derive(Debug, Parser)]
struct Args {
    /// Directory of the store and tickets; built on the first run, reused afterwards.
    #[arg(long)]
    dir: PathBuf,
    /// Completed runs to build.
    #[arg(long, default_value_t = 20_000)]
    runs: u32,
    /// Concurrent verify calls in the second round.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (db, artifacts_dir) = (args.dir.join("db.sqlite"), args.dir.join("artifacts"));
    if !db.exists() {
        let started = Instant::now();
        build(&db, &artifacts_dir, args.runs).await?;
        println!("built {} runs in {:?}", args.runs, started.elapsed());
    }
    let router = router(&db, &artifacts_dir).await?;
    println!("rss before: {} MB", rss_mb());
    let (status, took) = verify_once(router.clone()).await?;
    println!("one verify: {status} in {took:?}");
    let started = Instant::now();
    let mut times: Vec<(u16, Duration)> = futures::stream::iter(0..args.concurrency)
        .map(|_| verify_once(router.clone()))
        .buffer_unordered(args.concurrency)
        .try_collect()
        .await?;
    times.sort_by_key(|(_, took)| *took);
    let ok = times.iter().filter(|(s, _)| *s == 200).count();
    println!(
        "{} at once: {ok} answered 200, {} other, p50 {:?}, max {:?}, all in {:?}",
        args.concurrency,
        times.len() - ok,
        times[times.len() / 2].1,
        times[times.len() - 1].1,
        started.elapsed()
    );
    println!("rss after: {} MB", rss_mb());
    Ok(())
}

/// The API's router over the store, as `sidefx-api` would build it.
async fn router(db: &Path, artifacts: &Path) -> anyhow::Result<axum::Router> {
    let config = ApiConfig::try_parse_from([
        "sidefx-api".as_ref(),
        "--driftq-http-url".as_ref(),
        "http://127.0.0.1:9".as_ref(),
        "--db-path".as_ref(),
        db.as_os_str(),
        "--artifacts-dir".as_ref(),
        artifacts.as_os_str(),
    ])?;
    Ok(sidefx_api::app(AppState::from_config(&config).await?))
}

/// One `GET /debug/verify`: its status and how long it took.
async fn verify_once(router: axum::Router) -> anyhow::Result<(u16, Duration)> {
    let started = Instant::now();
    let request = Request::get("/debug/verify?settle_after_ms=0").body(Body::empty())?;
    let response = router.oneshot(request).await?;
    let status = response.status().as_u16();
    axum::body::to_bytes(response.into_body(), usize::MAX).await?;
    Ok((status, started.elapsed()))
}

/// What a healthy stack leaves behind for `runs` runs: the run, its done effect, its ticket.
async fn build(db: &Path, artifacts: &Path, runs: u32) -> anyhow::Result<()> {
    let store = Store::open(db).await?;
    let artifacts = Artifacts::new(artifacts.to_path_buf());
    futures::stream::iter(0..runs)
        .map(|n| complete(&store, &artifacts, n))
        .buffer_unordered(64)
        .try_collect::<()>()
        .await
}

async fn complete(store: &Store, artifacts: &Artifacts, n: u32) -> anyhow::Result<()> {
    let run_id = RunId::generate();
    let business_key = BusinessKey::parse(&format!("verify-load-{n}"))?;
    store
        .create_run(NewRun {
            run_id: run_id.clone(),
            business_key: business_key.clone(),
            request_json: "{}".to_owned(),
            idempotency_key: None,
            request_fingerprint: String::new(),
        })
        .await?;
    let cmd = RunCommand {
        ts: now_ms(),
        events_topic: events_topic(&run_id),
        run_id,
        step_id: StepId::charge_card(),
        business_key,
        amount: 1.0,
        attempt: 0,
        max_attempts: 3,
        fail_before_effect_n: 0,
        fail_mode: sidefx_core::FailMode::None,
        redrive: None,
    };
    let lease = Duration::from_secs(30);
    store
        .claim(NewClaim::for_command(&cmd, "w", lease)?)
        .await?;
    let ticket = artifacts
        .write_ticket(&Ticket::for_command(&cmd, now_ms()))
        .await?;
    let receipt = Receipt::ticket(ticket.path().display().to_string());
    store.mark_done(&cmd.effect_id(), "w", &receipt).await?;
    store
        .update_run(&cmd.run_id, RunStatus::Completed, 1)
        .await?;
    Ok(())
}

/// This process's resident set size in MB (Linux), 0 elsewhere.
fn rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    kb / 1024
}
