//! Load generator for `POST /runs`: submits N runs at concurrency C over keep-alive
//! connections, optionally paced at an offered rate, and prints runs/s and latency
//! percentiles. Loopback only; every run it submits is bounded by `--runs`.
//!
//! ```text
//! # everything in-process (broker, API, a consumer group that acks the commands):
//! cargo run --release -p sidefx-api --example api_load -- --runs 5000 --concurrency 16
//! # against running servers (give --broker-url too so the commands get drained):
//! target/release/examples/api_load --api-url http://127.0.0.1:8000 --broker-url http://127.0.0.1:8080
//! ```
//!
//! Without a worker nobody acks `sidefx.commands`, and DriftQ refuses the 101st unacked
//! message of a partition; so unless `--no-drain` is given, a consumer group acks every
//! command as it arrives (what a worker does, minus the work).

#![allow(
    clippy::print_stdout,
    reason = "an example reports its figures on stdout"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use driftq_client::{Client, ConsumeRequest};
use futures::StreamExt;
use sidefx_api::{ApiConfig, AppState};
use sidefx_core::{COMMANDS_PARTITIONS, COMMANDS_TOPIC};
use tokio::task::JoinSet;

/// Command line of the load generator.
#[derive(Debug, Parser)]
struct Args {
    /// API base URL; without it an API (and, without --broker-url, a broker) runs in-process.
    #[arg(long)]
    api_url: Option<String>,
    /// Broker base URL (for the in-process API and for draining commands).
    #[arg(long)]
    broker_url: Option<String>,
    /// Runs to submit.
    #[arg(long, default_value_t = 5000)]
    runs: u64,
    /// Requests in flight at once (one keep-alive connection each).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Offered rate in runs/s; latency is then measured from each run's scheduled start, so
    /// a stall shows up in the percentiles instead of slowing the offered load.
    #[arg(long)]
    rate: Option<f64>,
    /// Do not ack the commands (only for a run where a real worker consumes them).
    #[arg(long)]
    no_drain: bool,
}

/// The servers under test; dropping it stops the in-process ones.
struct Target {
    api_url: String,
    broker_url: Option<String>,
    _broker: Option<driftq_local::Broker>,
    _dir: tempfile::TempDir,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let target = start_target(&args).await?;
    if let (Some(broker_url), false) = (&target.broker_url, args.no_drain) {
        start_drain(Client::new(broker_url)?).await?;
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .tcp_nodelay(true)
        .build()?;
    let started = Instant::now();
    let (latencies, failures) = submit_all(&args, &http, &target.api_url).await;
    report(&args, started.elapsed(), latencies, failures);
    Ok(())
}

/// Uses the given servers, or starts a broker and the API in-process on 127.0.0.1:0.
async fn start_target(args: &Args) -> anyhow::Result<Target> {
    let dir = tempfile::tempdir()?;
    if let Some(api_url) = &args.api_url {
        let broker_url = args.broker_url.clone();
        return Ok(Target {
            api_url: api_url.clone(),
            broker_url,
            _broker: None,
            _dir: dir,
        });
    }
    let (broker_url, broker) = match &args.broker_url {
        Some(url) => (url.clone(), None),
        None => {
            let config = driftq_local::BrokerConfig::ephemeral(dir.path().join("driftq.wal"));
            let broker = driftq_local::spawn(config).await?;
            (broker.base_url(), Some(broker))
        }
    };
    let db = dir.path().join("side_effects.sqlite");
    let config = ApiConfig::try_parse_from([
        "sidefx-api".as_ref(),
        "--driftq-http-url".as_ref(),
        broker_url.as_ref(),
        "--db-path".as_ref(),
        db.as_os_str(),
    ])?;
    let state = AppState::from_config(&config).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(sidefx_api::serve(listener, state, std::future::pending()));
    let broker_url = Some(broker_url);
    Ok(Target {
        api_url,
        broker_url,
        _broker: broker,
        _dir: dir,
    })
}

/// A consumer group on the commands topic that acks each command from its own task (the
/// broker allows 2 unacked deliveries per partition, so reading must not wait for acks).
async fn start_drain(client: Client) -> anyhow::Result<()> {
    client
        .create_topic(COMMANDS_TOPIC, COMMANDS_PARTITIONS)
        .await?;
    let request = ConsumeRequest::new(COMMANDS_TOPIC, "load-drain", "load-drain");
    let mut commands = client.consume(request.clone());
    tokio::spawn(async move {
        while let Some(item) = commands.next().await {
            let Ok(message) = item else { continue };
            let (client, target) = (client.clone(), request.ack_target(&message));
            tokio::spawn(async move { client.ack(&target).await });
        }
    });
    Ok(())
}

/// `concurrency` tasks take run numbers from a shared counter until `runs` are submitted.
async fn submit_all(args: &Args, http: &reqwest::Client, api_url: &str) -> (Vec<Duration>, u64) {
    let next = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..args.concurrency {
        let (next, failures, http) = (next.clone(), failures.clone(), http.clone());
        let (url, runs, rate) = (format!("{api_url}/runs"), args.runs, args.rate);
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= runs {
                    return latencies;
                }
                let scheduled = match rate {
                    Some(rate) => start + Duration::from_secs_f64(n as f64 / rate),
                    None => Instant::now(),
                };
                tokio::time::sleep_until(scheduled.into()).await;
                match submit(&http, &url, n).await {
                    Ok(()) => latencies.push(scheduled.elapsed()),
                    Err(_) => _ = failures.fetch_add(1, Ordering::Relaxed),
                }
            }
        });
    }
    let latencies = tasks.join_all().await.into_iter().flatten().collect();
    (latencies, failures.load(Ordering::Relaxed))
}

/// One `POST /runs`; anything but 200 counts as a failure.
async fn submit(http: &reqwest::Client, url: &str, n: u64) -> Result<(), reqwest::Error> {
    let body = serde_json::json!({ "business_key": format!("load-{n}"), "amount": 1.0 });
    let response = http.post(url).json(&body).send().await?;
    response.error_for_status()?.bytes().await.map(drop)
}

fn report(args: &Args, elapsed: Duration, mut latencies: Vec<Duration>, failures: u64) {
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        let Some(last) = latencies.len().checked_sub(1) else {
            return f64::NAN;
        };
        let index = ((last as f64) * p).round() as usize;
        latencies[index].as_secs_f64() * 1000.0
    };
    let ok = latencies.len();
    println!(
        "runs={} ok={ok} failed={failures} concurrency={} rate={:?} elapsed={:.2}s",
        args.runs,
        args.concurrency,
        args.rate,
        elapsed.as_secs_f64()
    );
    println!(
        "throughput={:.0} runs/s  latency p50={:.2}ms p99={:.2}ms max={:.2}ms",
        ok as f64 / elapsed.as_secs_f64(),
        percentile(0.50),
        percentile(0.99),
        percentile(1.0)
    );
}
