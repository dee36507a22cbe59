//! The consume loop: takes commands from DriftQ, runs up to `concurrency` steps at once, and
//! acks each command only when its step said so and every lower offset of its partition
//! delivered here is finished too (see `ack_tracker` for why). It never decides an outcome
//! itself; the step does.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use driftq_client::{AckTarget, Client, ConsumeRequest, Message};
use futures::FutureExt;
use sidefx_core::telemetry::untrusted;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinError, JoinSet};
use tracing::{debug, error, info, warn};

use crate::ack_tracker::AckTracker;
use crate::acker;
use crate::context::{StepContext, StepError};
use crate::outcome::StepOutcome;
use crate::presence::StepsInHand;
use crate::step;
use crate::step_metrics;
use crate::subscription::Subscription;

/// What a finished step task reports back to the loop.
#[derive(Debug)]
struct StepReport {
    partition: u32,
    offset: u64,
    /// `None` if the step panicked (treated like an error: no ack).
    result: Option<Result<StepOutcome, StepError>>,
}

/// Runs until `shutdown` turns true, then stops taking messages, finishes the steps in hand
/// and sends their acks before returning. `in_hand` always says how many steps run (the
/// worker's heartbeat reports it).
pub async fn run(
    ctx: StepContext,
    mut subscription: Subscription,
    concurrency: usize,
    in_hand: StepsInHand,
    mut shutdown: watch::Receiver<bool>,
) {
    let request = subscription.request().clone();
    // One acker task, fed in order, with one lane per partition: acks of one partition leave
    // in the order the tracker released them, and a slow ack holds back no other partition.
    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    let acks = tokio::spawn(send_acks(ctx.publisher.client().clone(), ack_rx));
    let mut tracker = AckTracker::new(barrier_hold(ctx.lease));
    let mut barrier_check = tokio::time::interval(ctx.lease);
    let mut steps = JoinSet::new();
    loop {
        in_hand.set(steps.len());
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            Some(joined) = steps.join_next() => {
                on_finished(joined, &mut tracker, &request, &ack_tx);
            }
            _ = barrier_check.tick() => {
                for (partition, ready) in tracker.release_expired(Instant::now()) {
                    queue_acks(&request, partition, ready, &ack_tx);
                }
            }
            msg = subscription.next(), if steps.len() < concurrency => {
                start_step(&ctx, msg, &mut tracker, &mut steps);
            }
        }
    }
    // Closing the stream stops deliveries; messages the broker already pushed but we never
    // started are redelivered to other workers after the lease.
    drop(subscription);
    info!(
        in_hand = steps.len(),
        "shutdown: no new messages; finishing the steps in hand"
    );
    while let Some(joined) = steps.join_next().await {
        on_finished(joined, &mut tracker, &request, &ack_tx);
        in_hand.set(steps.len());
    }
    drop(ack_tx);
    if let Err(err) = acks.await {
        error!(error = %err, "acker task failed");
    }
    info!(unreleased = tracker.pending(), "consume loop stopped");
}

/// Registers a delivery and spawns its step, unless this very delivery is already in hand.
fn start_step(
    ctx: &StepContext,
    msg: Message,
    tracker: &mut AckTracker,
    steps: &mut JoinSet<StepReport>,
) {
    let (partition, offset) = (msg.partition, msg.offset);
    if !tracker.begin(partition, offset) {
        // The lease ran out while we were still on it and DriftQ gave it back to us: the
        // running step (and its ack, sent under the same owner) covers this delivery.
        debug!(
            partition,
            offset,
            attempts = msg.attempts,
            "redelivery of a message in hand; not handling it twice"
        );
        return;
    }
    debug!(partition, offset, attempts = msg.attempts, key = %untrusted(&msg.key), "message received");
    let ctx = ctx.clone();
    steps.spawn(async move {
        let started = Instant::now();
        // A panicking step must still report, or its partition's later acks would wait forever.
        let result = AssertUnwindSafe(step::handle_message(&ctx, &msg))
            .catch_unwind()
            .await
            .ok();
        if let Some(Ok(outcome)) = &result {
            step_metrics::record_step(outcome, started.elapsed());
        }
        StepReport {
            partition,
            offset,
            result,
        }
    });
}

/// Records a finished step and queues the acks it released.
fn on_finished(
    joined: Result<StepReport, JoinError>,
    tracker: &mut AckTracker,
    request: &ConsumeRequest,
    ack_tx: &mpsc::UnboundedSender<AckTarget>,
) {
    let report = match joined {
        Ok(report) => report,
        Err(err) => {
            // Unreachable in practice (steps catch panics and are never aborted).
            error!(error = %err, "step task lost");
            return;
        }
    };
    let (partition, offset) = (report.partition, report.offset);
    let ack = match &report.result {
        Some(Ok(outcome)) => {
            info!(
                partition,
                offset,
                outcome = outcome.name(),
                ack = outcome.acks(),
                "message handled"
            );
            outcome.acks()
        }
        Some(Err(err)) => {
            warn!(
                partition,
                offset,
                error = %untrusted(&err.to_string()),
                "step failed; not acking, DriftQ will redeliver",
            );
            false
        }
        None => {
            error!(
                partition,
                offset, "step panicked; not acking, DriftQ will redeliver"
            );
            false
        }
    };
    let ready = tracker.finish(partition, offset, ack, Instant::now());
    queue_acks(request, partition, ready, ack_tx);
}

/// How long a message we did not ack holds back the acks above it in its partition: DriftQ
/// redelivers it one lease after our delivery (plus a 250 ms tick), and whoever gets it needs
/// a moment to finish; twice the lease plus a second covers both.
fn barrier_hold(lease: Duration) -> Duration {
    lease * 2 + Duration::from_secs(1)
}

/// Queues the acks of `offsets` (already in release order) for the acker task.
fn queue_acks(
    request: &ConsumeRequest,
    partition: u32,
    offsets: Vec<u64>,
    ack_tx: &mpsc::UnboundedSender<AckTarget>,
) {
    for ready in offsets {
        let target = AckTarget {
            topic: request.topic.clone(),
            group: request.group.clone(),
            owner: request.owner.clone(),
            partition,
            offset: ready,
        };
        // The receiver lives until we drop the sender, so this cannot fail.
        let _ = ack_tx.send(target);
    }
}

/// Sends queued acks: one lane (task) per partition, so the partitions' acks go out
/// concurrently while those of one partition leave one by one, in queue order. A single
/// sequential acker capped the whole group at one ack round trip at a time, and every
/// partition's 2 in-flight slots stayed taken while their acks queued behind others.
async fn send_acks(client: Client, mut queue: mpsc::UnboundedReceiver<AckTarget>) {
    let mut lanes: HashMap<u32, mpsc::UnboundedSender<AckTarget>> = HashMap::new();
    let mut lane_tasks = JoinSet::new();
    while let Some(target) = queue.recv().await {
        let lane = lanes.entry(target.partition).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            lane_tasks.spawn(ack_lane(client.clone(), rx));
            tx
        });
        // The lane lives until `lanes` is dropped below, so this cannot fail.
        let _ = lane.send(target);
    }
    // Closing the lanes lets them finish what they hold, then end.
    drop(lanes);
    while lane_tasks.join_next().await.is_some() {}
}

/// Acks one partition's targets one by one.
async fn ack_lane(client: Client, mut queue: mpsc::UnboundedReceiver<AckTarget>) {
    while let Some(target) = queue.recv().await {
        acker::ack(&client, &target).await;
    }
}
