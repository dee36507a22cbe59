//! End-to-end throughput of `driftq-local` driven through `driftq-client`:
//! producers, one consumer stream that acks every message, a durable WAL.
//!
//! ```text
//! cargo bench -p driftq-local --bench throughput [-- MESSAGES [PRODUCERS [PARTITIONS]]]
//! ```
//! Defaults: 20000 messages, 8 producers, 16 partitions; also read from
//! `DRIFTQ_BENCH_MESSAGES`, `DRIFTQ_BENCH_PRODUCERS`, `DRIFTQ_BENCH_PARTITIONS`.
//! It prints figures and asserts nothing about timings.

#![allow(clippy::print_stdout, reason = "a bench reports its figures on stdout")]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use driftq_client::{Client, ConsumeRequest, Error, ProduceRequest};
use driftq_local::BrokerConfig;
use futures::StreamExt;
use tokio::task::JoinSet;

const TOPIC: &str = "bench";
const GROUP: &str = "bench-group";
/// Long enough that slow acks under load are not mistaken for lost messages.
const LEASE: Duration = Duration::from_secs(10);
/// Payload size: a small JSON command is about this big.
const VALUE_BYTES: usize = 100;

/// What to run, from positional arguments, else the environment, else defaults.
struct Settings {
    messages: usize,
    producers: usize,
    partitions: u32,
}

impl Settings {
    fn from_env_and_args() -> anyhow::Result<Settings> {
        // `cargo bench` passes `--bench`; only positional numbers are ours.
        let args: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect();
        let pick = |index: usize, var: &str, default: usize| -> anyhow::Result<usize> {
            match args.get(index).cloned().or_else(|| std::env::var(var).ok()) {
                Some(text) => text
                    .parse()
                    .with_context(|| format!("{var}: not a number: {text:?}")),
                None => Ok(default),
            }
        };
        let settings = Settings {
            messages: pick(0, "DRIFTQ_BENCH_MESSAGES", 20_000)?,
            producers: pick(1, "DRIFTQ_BENCH_PRODUCERS", 8)?.max(1),
            partitions: u32::try_from(pick(2, "DRIFTQ_BENCH_PARTITIONS", 16)?.max(1))?,
        };
        Ok(settings)
    }
}

/// What the producers saw.
#[derive(Default)]
struct ProduceStats {
    /// Latency of every successful produce request.
    latencies: Vec<Duration>,
    /// 429 answers that were waited out and retried.
    backpressure_retries: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env_and_args()?;
    let dir = tempfile::tempdir()?;
    let broker = driftq_local::spawn(BrokerConfig::ephemeral(dir.path().join("bench.wal"))).await?;
    let client = Client::new(&broker.base_url())?;
    client.create_topic(TOPIC, settings.partitions).await?;

    let start = Instant::now();
    let consumer = tokio::spawn(consume_and_ack(client.clone(), settings.messages));
    let produced = produce_all(&client, &settings).await?;
    let produce_elapsed = start.elapsed();
    let redeliveries = consumer.await??;
    let total_elapsed = start.elapsed();
    broker.shutdown().await;

    report(
        &settings,
        &produced,
        produce_elapsed,
        total_elapsed,
        redeliveries,
    );
    Ok(())
}

/// Runs the producers concurrently; producer `p` sends messages p, p+C, p+2C, ...
async fn produce_all(client: &Client, settings: &Settings) -> anyhow::Result<ProduceStats> {
    let mut producers = JoinSet::new();
    for first in 0..settings.producers {
        let client = client.clone();
        let ids: Vec<usize> = (first..settings.messages)
            .step_by(settings.producers)
            .collect();
        producers.spawn(async move { produce_some(&client, ids).await });
    }
    let mut stats = ProduceStats::default();
    while let Some(done) = producers.join_next().await {
        let part = done??;
        stats.latencies.extend(part.latencies);
        stats.backpressure_retries += part.backpressure_retries;
    }
    Ok(stats)
}

/// One producer: keyed messages (spread over partitions by key hash), each
/// retried after the broker's `retry_after` when the partition is full.
async fn produce_some(client: &Client, ids: Vec<usize>) -> Result<ProduceStats, Error> {
    let mut stats = ProduceStats::default();
    for id in ids {
        let value = format!("{id:0>VALUE_BYTES$}");
        let request = ProduceRequest::new(TOPIC, value).key(format!("key-{id}"));
        loop {
            let sent = Instant::now();
            match client.produce(&request).await {
                Ok(()) => {
                    stats.latencies.push(sent.elapsed());
                    break;
                }
                Err(Error::Backpressure { retry_after, .. }) => {
                    stats.backpressure_retries += 1;
                    tokio::time::sleep(retry_after).await;
                }
                Err(err) => return Err(err),
            }
        }
    }
    Ok(stats)
}

/// One stream for the group; every delivery is acked in its own task so the
/// stream keeps being read while acks are in flight (the broker allows only
/// 2 unacked messages per partition). Returns the number of redeliveries.
async fn consume_and_ack(client: Client, total: usize) -> anyhow::Result<usize> {
    let request = ConsumeRequest::new(TOPIC, GROUP, "bench-consumer").lease(LEASE);
    let mut stream = client.consume(request.clone());
    let mut acks = JoinSet::new();
    let mut acked = HashSet::with_capacity(total);
    let mut redeliveries = 0;
    while acked.len() < total {
        tokio::select! {
            item = stream.next() => {
                let msg = item.context("consume stream ended")??;
                redeliveries += usize::from(msg.attempts > 1);
                let target = request.ack_target(&msg);
                let client = client.clone();
                acks.spawn(async move { (target.offset, client.ack(&target).await) });
            }
            Some(done) = acks.join_next() => match done? {
                // "Not in flight" = a redelivered copy that was already acked.
                (offset, Ok(())) => { acked.insert(offset); }
                (offset, Err(err)) if err.is_not_in_flight() => { acked.insert(offset); }
                (offset, Err(err)) => bail!("ack of offset {offset} failed: {err}"),
            },
        }
    }
    Ok(redeliveries)
}

fn report(
    settings: &Settings,
    produced: &ProduceStats,
    produce: Duration,
    total: Duration,
    redeliveries: usize,
) {
    let n = settings.messages;
    let rate = |elapsed: Duration| n as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
    let mut latencies = produced.latencies.clone();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "driftq-local throughput: {n} messages of {VALUE_BYTES} B, {} producers, {} partitions, 1 consumer stream, durable WAL",
        settings.producers, settings.partitions
    );
    println!(
        "  produce:                      {:>8.0} msg/s ({:.2} s, {} backpressure retries)",
        rate(produce),
        produce.as_secs_f64(),
        produced.backpressure_retries
    );
    println!(
        "  produce -> consume -> ack:    {:>8.0} msg/s ({:.2} s, {redeliveries} redeliveries)",
        rate(total),
        total.as_secs_f64()
    );
    println!(
        "  produce latency:              p50 {:.2} ms, p99 {:.2} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
}
