//! Load generator: many concurrent keep-alive producers and a consumer group
//! that acks every delivery, for a fixed time, against a running broker (or an
//! in-process one). Prints produces/s, acks/s and produce latency.
//!
//! ```text
//! cargo build --release -p driftq-local --examples
//! target/release/driftq-local --addr 127.0.0.1:18080 --wal /tmp/load.wal --reset-wal &
//! target/release/examples/broker_load --url http://127.0.0.1:18080 --clients 64 --seconds 10
//! ```
//!
//! Every producer task owns one HTTP/1.1 keep-alive connection. Consumer
//! streams ack each item from its own task, so reading the stream never waits
//! for an ack (the broker allows only 2 unacked messages per partition).

#![allow(
    clippy::print_stdout,
    reason = "an example reports its figures on stdout"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;
use futures::StreamExt;
use tokio::task::JoinSet;

/// Command line of the load generator.
#[derive(Debug, Parser)]
struct Args {
    /// Broker base URL; without it an in-process broker with a temp WAL is started.
    #[arg(long)]
    url: Option<String>,
    /// Concurrent producer connections.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Consume streams in the acking group (0 = produce only).
    #[arg(long, default_value_t = 4)]
    consumers: usize,
    /// Partitions of the load topic (the in-flight limit is per partition).
    #[arg(long, default_value_t = 64)]
    partitions: u32,
    /// How long to run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
}

/// Counters shared by all tasks.
#[derive(Debug, Default)]
struct Totals {
    produced: AtomicU64,
    acked: AtomicU64,
    overloaded: AtomicU64,
    stop: AtomicBool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let (base, broker) = match &args.url {
        Some(url) => (url.trim_end_matches('/').to_owned(), None),
        None => {
            let config = driftq_local::BrokerConfig::ephemeral(dir.path().join("load.wal"));
            let broker = driftq_local::spawn(config).await?;
            (broker.base_url(), Some(broker))
        }
    };
    // A fresh topic name per run, so a reused WAL does not start out full.
    let topic = format!("load-{}", chrono::Utc::now().timestamp_millis());
    let http = reqwest::Client::new();
    let url = format!(
        "{base}/v1/topics?name={topic}&partitions={}",
        args.partitions
    );
    let status = http.post(url).send().await?.status();
    if status.as_u16() != 201 {
        bail!("creating the topic answered {status}");
    }

    let totals = Arc::new(Totals::default());
    let mut consumers = JoinSet::new();
    for c in 0..args.consumers {
        let owner = format!("c{c}");
        let ack = format!("{base}/v1/ack?topic={topic}&group=load&owner={owner}");
        let url =
            format!("{base}/v1/consume?topic={topic}&group=load&owner={owner}&lease_ms=30000");
        consumers.spawn(consume(url, ack, Arc::clone(&totals)));
    }
    let started = Instant::now();
    let mut producers = JoinSet::new();
    for p in 0..args.clients {
        let value = "v".repeat(args.value_bytes);
        let url = format!("{base}/v1/produce?topic={topic}&value={value}&key=");
        producers.spawn(produce(url, p, Arc::clone(&totals)));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    totals.stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    consumers.abort_all();
    let mut latencies = Vec::new();
    while let Some(done) = producers.join_next().await {
        latencies.append(&mut done??);
    }
    report(&args, &totals, elapsed, latencies);
    if let Some(broker) = broker {
        broker.shutdown().await;
    }
    Ok(())
}

/// One producer connection: keyed messages (spread by key hash) until stopped;
/// a 429 is waited out briefly and counted. Returns the produce latencies.
async fn produce(url: String, id: usize, totals: Arc<Totals>) -> anyhow::Result<Vec<Duration>> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()?;
    let mut latencies = Vec::new();
    let mut n = 0u64;
    while !totals.stop.load(Ordering::Relaxed) {
        n += 1;
        let sent = Instant::now();
        let resp = http.post(format!("{url}p{id}-{n}")).send().await?;
        match resp.status().as_u16() {
            200 => {
                latencies.push(sent.elapsed());
                totals.produced.fetch_add(1, Ordering::Relaxed);
            }
            429 => {
                totals.overloaded.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => bail!("produce answered {other}: {}", resp.text().await?),
        }
    }
    Ok(latencies)
}

/// One consume stream; every item is acked from its own task.
async fn consume(url: String, ack: String, totals: Arc<Totals>) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let resp = http.get(url).send().await?;
    let mut body = resp.bytes_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = body.next().await {
        buf.extend_from_slice(&chunk?);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let item: serde_json::Value = serde_json::from_slice(&line)?;
            let (p, o) = (item["partition"].as_u64(), item["offset"].as_u64());
            let (Some(p), Some(o)) = (p, o) else {
                bail!("malformed item: {item}");
            };
            let ack = format!("{ack}&partition={p}&offset={o}");
            let (http, totals) = (http.clone(), Arc::clone(&totals));
            tokio::spawn(async move {
                if let Ok(r) = http.post(ack).send().await
                    && r.status().as_u16() == 204
                {
                    totals.acked.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    }
    bail!("consume stream ended")
}

fn report(args: &Args, totals: &Totals, elapsed: f64, mut latencies: Vec<Duration>) {
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let produced = totals.produced.load(Ordering::Relaxed) as f64;
    let acked = totals.acked.load(Ordering::Relaxed) as f64;
    println!(
        "{} clients, {} consumer streams, {} partitions, {} B values, {elapsed:.1} s",
        args.clients, args.consumers, args.partitions, args.value_bytes
    );
    println!(
        "produce {:.0}/s  ack {:.0}/s  produce+ack {:.0}/s  429s {}  produce p50 {:.2} ms p99 {:.2} ms",
        produced / elapsed,
        acked / elapsed,
        (produced + acked) / elapsed,
        totals.overloaded.load(Ordering::Relaxed),
        pct(0.5),
        pct(0.99)
    );
}
