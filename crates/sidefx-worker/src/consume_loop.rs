//! The consume loop: takes commands from DriftQ, runs up to `concurrency` steps at once, and
//! acks each command only when its step said so and every lower offset of its partition
//! delivered here is finished too (see `ack_tracker` for why). It never decides an outcome
//! itself; the step does.

use std::panic::AssertUnwindSafe;

use driftq_client::{AckTarget, Client, ConsumeRequest, Message};
use futures::FutureExt;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinError, JoinSet};
use tracing::{debug, error, info, warn};

use crate::ack_tracker::AckTracker;
use crate::acker;
use crate::outcome::StepOutcome;
use crate::step::{self, StepContext, StepError};
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
/// and sends their acks before returning.
pub async fn run(
    ctx: StepContext,
    mut subscription: Subscription,
    concurrency: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let request = subscription.request().clone();
    // One acker task, fed in order: acks of one partition leave in the order the tracker
    // released them, even when two steps finish at the same moment.
    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    let acks = tokio::spawn(send_acks(ctx.publisher.client().clone(), ack_rx));
    let mut tracker = AckTracker::new();
    let mut steps = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            Some(joined) = steps.join_next() => {
                on_finished(joined, &mut tracker, &request, &ack_tx);
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
    debug!(partition, offset, attempts = msg.attempts, key = %msg.key, "message received");
    let ctx = ctx.clone();
    steps.spawn(async move {
        // A panicking step must still report, or its partition's later acks would wait forever.
        let result = AssertUnwindSafe(step::handle_message(&ctx, &msg))
            .catch_unwind()
            .await
            .ok();
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
                error = %err,
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
    for ready in tracker.finish(partition, offset, ack) {
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

/// Sends queued acks one by one, in queue order.
async fn send_acks(client: Client, mut queue: mpsc::UnboundedReceiver<AckTarget>) {
    while let Some(target) = queue.recv().await {
        acker::ack(&client, &target).await;
    }
}
