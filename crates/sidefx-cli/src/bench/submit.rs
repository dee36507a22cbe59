//! Submitting the benchmark's runs: closed loop (C requests in flight, the next one sent as
//! soon as one is answered) or open loop (one run every 1/R s, whatever the answers take).
//! Each accepted run id is handed to the completion poller at once, so done rows are read
//! while the load still runs instead of in one burst at the end.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;

use sidefx_core::{BusinessKey, FailMode, RunId, RunRequest};

use crate::load::{Load, Submission, map_concurrent, now_ms};

/// Prefix of the benchmark's Idempotency-Keys (`bench-<business_key>`).
const KEY_PREFIX: &str = "bench";

/// One submitted run.
#[derive(Debug)]
pub struct Sample {
    /// Where submit→done starts (ms since the epoch): the first POST (closed loop) or the
    /// run's scheduled start (open loop).
    pub start_ms: i64,
    /// From the first POST attempt to the answer (retries included).
    pub post_latency: Duration,
    /// What came of it.
    pub submission: Submission,
}

/// The runs for one benchmark: unique business keys, no failure injected.
pub fn specs(n: usize) -> Vec<RunRequest> {
    let salt = rand::random::<u32>() & 0xff_ffff;
    (0..n)
        .map(|i| RunRequest {
            business_key: BusinessKey::parse(&format!("bench-{salt:06x}-{i}"))
                .expect("letters, digits and dashes make a valid business key"),
            amount: 10.0 + (i % 90) as f64,
            fail_before_effect_n: 0,
            fail_mode: FailMode::None,
            max_attempts: 3,
        })
        .collect()
}

/// Closed loop: `concurrency` POSTs in flight; accepted runs go to `accepted` as `(index, id)`.
pub async fn closed_loop(
    load: &Load,
    specs: Vec<RunRequest>,
    concurrency: usize,
    accepted: UnboundedSender<(usize, RunId)>,
) -> Vec<Sample> {
    let load = load.clone();
    let items: Vec<(usize, RunRequest)> = specs.into_iter().enumerate().collect();
    map_concurrent(items, concurrency, move |(index, spec)| {
        let (load, accepted) = (load.clone(), accepted.clone());
        async move {
            let start_ms = now_ms();
            post(&load, index, spec, start_ms, &accepted).await
        }
    })
    .await
}

/// Open loop: run `i` is sent at `i / rate` seconds after the start, each on its own task,
/// so a slow answer never delays the next submission.
pub async fn open_loop(
    load: &Load,
    specs: Vec<RunRequest>,
    rate: f64,
    accepted: UnboundedSender<(usize, RunId)>,
) -> Vec<Sample> {
    let (started, started_ms) = (Instant::now(), now_ms());
    let mut tasks = JoinSet::new();
    for (index, spec) in specs.into_iter().enumerate() {
        let offset = Duration::from_secs_f64(index as f64 / rate.max(0.001));
        tokio::time::sleep_until((started + offset).into()).await;
        let (load, accepted) = (load.clone(), accepted.clone());
        let start_ms = started_ms + i64::try_from(offset.as_millis()).unwrap_or(i64::MAX);
        tasks.spawn(async move { (index, post(&load, index, spec, start_ms, &accepted).await) });
    }
    let mut samples: Vec<(usize, Sample)> = tasks.join_all().await;
    samples.sort_by_key(|(index, _)| *index);
    samples.into_iter().map(|(_, sample)| sample).collect()
}

async fn post(
    load: &Load,
    index: usize,
    spec: RunRequest,
    start_ms: i64,
    accepted: &UnboundedSender<(usize, RunId)>,
) -> Sample {
    let sent = Instant::now();
    let submission = load.submit_once(spec, KEY_PREFIX).await;
    let post_latency = sent.elapsed();
    if let Some(run_id) = &submission.run_id {
        // The poller only stops once every sender is gone; a closed channel means it gave up.
        let _ = accepted.send((index, run_id.clone()));
    }
    Sample {
        start_ms,
        post_latency,
        submission,
    }
}
