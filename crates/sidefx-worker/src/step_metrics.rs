//! What the worker records about its steps (names in `sidefx_core::metrics`). Without a
//! recorder (no `WORKER_METRICS_ADDR`) every call here is a cheap no-op.

use std::time::Duration;

use metrics::{counter, histogram};
use sidefx_core::metrics::{
    DEAD_LETTERS, EFFECTS, OUTCOME, RETRIES_SCHEDULED, STEP_DURATION, SUBMIT_TO_DONE,
};
use sidefx_core::{RunCommand, Store, now_ms};
use tracing::debug;

use crate::outcome::StepOutcome;

/// Records a finished step: its duration, and what it did to its effect.
pub fn record_step(outcome: &StepOutcome, took: Duration) {
    histogram!(STEP_DURATION).record(took);
    let effect = match outcome {
        StepOutcome::Done => "executed",
        StepOutcome::AlreadyDone => "skipped",
        StepOutcome::Healed => "healed",
        StepOutcome::TakenOver => "taken_over",
        StepOutcome::RetryAfter(_) => {
            counter!(RETRIES_SCHEDULED).increment(1);
            return;
        }
        StepOutcome::DeadLetter { .. } | StepOutcome::Refused { .. } => {
            counter!(DEAD_LETTERS).increment(1);
            return;
        }
        StepOutcome::Undecodable { .. } | StepOutcome::LeaveForRedelivery => return,
    };
    counter!(EFFECTS, OUTCOME => effect).increment(1);
}

/// Records the time from the run's creation to `run.completed` (now). Attempt 0 carries the
/// creation time in its `ts`; a retry command was re-stamped when it was scheduled, so for
/// those the run row's `created_ms` is read (retries are rare, the read is cheap). A failed
/// read only loses the sample: metrics never fail a step.
pub async fn record_run_completed(store: &Store, cmd: &RunCommand) {
    let created_ms = if cmd.attempt == 0 {
        Some(cmd.ts)
    } else {
        match store.get_run(&cmd.run_id).await {
            Ok(row) => row.map(|r| r.created_ms),
            Err(err) => {
                debug!(error = %err, "submit-to-done not recorded: run row unreadable");
                None
            }
        }
    };
    if let Some(created_ms) = created_ms {
        let ms = u64::try_from(now_ms().saturating_sub(created_ms)).unwrap_or(0);
        histogram!(SUBMIT_TO_DONE).record(Duration::from_millis(ms));
    }
}
