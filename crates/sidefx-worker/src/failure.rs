//! What happens after an attempt fails without its side effect happening (before it, or the
//! effect itself failed): schedule the next attempt in the retry outbox, or, on the last
//! attempt, dead-letter the run. Either way the follow-up is durable before the step returns,
//! so the loop may ack the failed command.

use std::time::Duration;

use sidefx_core::{DlqRecord, NewRetry, RunCommand, RunStatus, now_ms};
use tracing::{info, warn};

use crate::context::{StepContext, StepError};
use crate::outcome::StepOutcome;
use crate::run_events;

/// Retries `cmd` after a backoff (at least `retry_after`, when the failing dependency said
/// how long to wait), or dead-letters it when no attempt is left.
pub async fn after_failed_attempt(
    ctx: &StepContext,
    cmd: &RunCommand,
    error: &str,
    retry_after: Option<Duration>,
) -> Result<StepOutcome, StepError> {
    if cmd.is_last_attempt() {
        dead_letter(ctx, cmd, error).await
    } else {
        schedule_retry(ctx, cmd, error, retry_after).await
    }
}

/// Puts attempt `n + 1` in the store's retry outbox, due after the backoff.
///
/// Why an outbox instead of sleeping and then producing: a sleeping step would hold one of
/// its partition's two DriftQ in-flight slots (blocking other runs) and its lease would
/// expire mid-sleep; and a crash would lose the pending retry. The outbox row survives
/// crashes, and `retry_outbox` publishes it when due.
async fn schedule_retry(
    ctx: &StepContext,
    cmd: &RunCommand,
    error: &str,
    retry_after: Option<Duration>,
) -> Result<StepOutcome, StepError> {
    let backoff = ctx
        .retry_policy
        .backoff(cmd.attempt)
        .max(retry_after.unwrap_or_default());
    let next = cmd.next_attempt(now_ms());
    let due_ms = now_ms().saturating_add(i64::try_from(backoff.as_millis()).unwrap_or(i64::MAX));
    // Events and run status first, the outbox row last: once the row exists the retry may
    // run at any moment (on any worker), and its events must come after ours.
    ctx.emit(run_events::retry_considered(cmd, error, backoff))
        .await?;
    ctx.emit(run_events::retry_scheduled(&next)).await?;
    let attempts = cmd.attempt.saturating_add(1);
    ctx.store
        .update_run(&cmd.run_id, RunStatus::Retrying, attempts)
        .await?;
    // Keyed by the retry command's broker idempotency key: a redelivered failure schedules
    // nothing new (ON CONFLICT DO NOTHING), and the publish is deduplicated by the broker.
    ctx.store
        .schedule_retry(NewRetry::for_command(&next, due_ms)?)
        .await?;
    ctx.retry_wakeup.notify_one();
    info!(
        next_attempt = next.attempt,
        backoff_ms = backoff.as_millis(),
        due_ms,
        error,
        "retry scheduled"
    );
    Ok(StepOutcome::RetryAfter(backoff))
}

/// Publishes the DLQ record (keyed `dlq:<run>:<step>:<key>`, so once per effect) and the
/// `run.dlq` event. If the DLQ publish fails the step fails and the command is not acked:
/// acking first would lose the run without a trace.
pub async fn dead_letter(
    ctx: &StepContext,
    cmd: &RunCommand,
    error: &str,
) -> Result<StepOutcome, StepError> {
    // The original emits `retry.considered` before dead-lettering too; the backoff is zero
    // because no retry follows.
    ctx.emit(run_events::retry_considered(cmd, error, Duration::ZERO))
        .await?;
    ctx.publisher
        .dead_letter(&DlqRecord::for_command(cmd, error, now_ms()))
        .await?;
    ctx.emit(run_events::run_dead_lettered(cmd, error)).await?;
    let attempts = cmd.attempt.saturating_add(1);
    ctx.store
        .update_run(&cmd.run_id, RunStatus::DeadLettered, attempts)
        .await?;
    warn!(
        attempts,
        max_attempts = cmd.max_attempts,
        error,
        "run dead-lettered"
    );
    Ok(StepOutcome::DeadLetter {
        error: error.to_owned(),
    })
}
