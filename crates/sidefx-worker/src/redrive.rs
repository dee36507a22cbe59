//! The redrive sweeper: finds runs whose command the broker lost, and publishes it again.
//!
//! DriftQ can lose a delivered, unacked message. Its committed offset is the highest ack of
//! a partition, and a restarted broker resumes above it (PROTOCOL Q1): a command that one
//! worker still held when another worker acked a later offset of the same partition is
//! never delivered again. Ack ordering inside one process cannot prevent that across
//! processes, so the store, which knows every accepted run, is the source of truth: a run
//! that is still `queued`, `running` or `retrying`, has no retry waiting in the outbox and
//! has not changed for `redrive_after`, gets its current command published again.
//!
//! Redriving is always safe, because the step is: a redriven command that finds its effect
//! done skips it, one that finds a live claim leaves it to its owner. So the only cost of a
//! redrive that was not needed (a run that was just slow) is a skipped step. Every worker
//! sweeps; the store's fenced [`Store::claim_redrive`] lets one of them win each stall, and
//! the winner's stamp makes the message's idempotency key new (the lost message's key is
//! still remembered by the broker and would be dropped as a duplicate).
//!
//! A run that redriving does not move on (a poison command that fails its step every time)
//! must not be republished forever, filling its partition: each redrive doubles the wait
//! before the next (the store's query), and after `max_redrives` the run is dead-lettered
//! with `reason=redrive_cap`, a metric and a log line.

use std::time::Duration;

use sidefx_core::metrics::{RUNS_REDRIVE_CAPPED, RUNS_REDRIVEN};
use sidefx_core::{DlqRecord, Publisher, RunCommand, RunRow, RunStatus, Store, now_ms};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::PassError;

/// Stalled runs handled per sweep; the rest wait for the next one.
const BATCH: u32 = 100;
/// Bounds of the interval between sweeps (a quarter of `redrive_after`).
const MIN_PERIOD: Duration = Duration::from_millis(250);
const MAX_PERIOD: Duration = Duration::from_secs(5);

/// When a run counts as stalled, and how often it may be redriven.
#[derive(Debug, Clone, Copy)]
pub struct RedrivePolicy {
    /// Unchanged this long (doubled per earlier redrive): stalled.
    pub after: Duration,
    /// Redrives a run may have; a stall after that dead-letters it.
    pub max_redrives: u32,
}

/// Sweeps every `policy.after / 4` until `shutdown` turns true.
pub async fn run(
    store: Store,
    publisher: Publisher,
    policy: RedrivePolicy,
    mut shutdown: watch::Receiver<bool>,
) {
    let period = (policy.after / 4).clamp(MIN_PERIOD, MAX_PERIOD);
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            () = tokio::time::sleep(period) => {}
        }
        if let Err(err) = sweep(&store, &publisher, policy).await {
            warn!(error = %err, "redrive sweep stopped early; retrying next sweep");
        }
    }
    info!("redrive sweeper stopped");
}

/// One pass: redrives (or, past the cap, dead-letters) up to [`BATCH`] stalled runs and
/// returns how many it handled (runs another sweeper took first are not counted).
pub async fn sweep(
    store: &Store,
    publisher: &Publisher,
    policy: RedrivePolicy,
) -> Result<usize, PassError> {
    let after_ms = i64::try_from(policy.after.as_millis()).unwrap_or(i64::MAX);
    let stalled = store.stalled_runs(now_ms(), after_ms, BATCH).await?;
    let mut redriven = 0;
    for run in &stalled {
        if redrive(store, publisher, run, policy.max_redrives).await? {
            redriven += 1;
        }
    }
    Ok(redriven)
}

/// Redrives one run if no other sweeper (or progress) got there first; dead-letters it
/// instead when it already had `max_redrives`.
async fn redrive(
    store: &Store,
    publisher: &Publisher,
    run: &RunRow,
    max_redrives: u32,
) -> Result<bool, PassError> {
    // Claimed before decoding, so an unreadable row is logged once per stall period rather
    // than on every sweep.
    let Some(stamp) = store.claim_redrive(run).await? else {
        return Ok(false);
    };
    let command = match run.current_command(now_ms()) {
        Ok(command) => command,
        Err(err) => {
            error!(run_id = %run.run_id, error = %err, request_json = %run.request_json,
                "stalled run has an unreadable request; cannot redrive it");
            return Ok(false);
        }
    };
    let attempt = command.attempt;
    if run.redrives >= max_redrives {
        dead_letter(store, publisher, run, &command).await?;
        return Ok(true);
    }
    publisher.redrive(&command, stamp).await?;
    metrics::counter!(RUNS_REDRIVEN).increment(1);
    warn!(
        run_id = %run.run_id,
        status = run.status.as_str(),
        attempt,
        idle_ms = stamp.saturating_sub(run.updated_ms),
        "run made no progress: its command was lost by the broker or is stuck; redriven",
    );
    Ok(true)
}

/// Ends a run that `max_redrives` redrives did not move on: its DLQ record and `run.dlq`
/// event first (keyed once per effect, like any dead letter), then its status, so a crash in
/// between leaves the run for the next sweep, which dead-letters it again harmlessly.
async fn dead_letter(
    store: &Store,
    publisher: &Publisher,
    run: &RunRow,
    command: &RunCommand,
) -> Result<(), PassError> {
    let error = format!("redrive_cap: no progress after {} redrives", run.redrives);
    publisher
        .dead_letter(&DlqRecord::for_command(command, error.as_str(), now_ms()))
        .await?;
    let event = crate::run_events::run_dead_lettered(command, &error);
    let (recorded, published) = tokio::join!(
        store.record_events(vec![event.clone()]),
        publisher.event(&event)
    );
    recorded?;
    published?;
    store
        .update_run(&run.run_id, RunStatus::DeadLettered, run.attempts)
        .await?;
    metrics::counter!(RUNS_REDRIVE_CAPPED).increment(1);
    warn!(run_id = %run.run_id, redrives = run.redrives, %error,
        "run made no progress through its redrives; dead-lettered");
    Ok(())
}
