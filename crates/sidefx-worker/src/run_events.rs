//! Builders for the events the step emits, one per event type, filled from the command, and
//! how they are published (with the run's status next to them). Keeping them here keeps the
//! step itself a readable sequence of decisions.

use std::time::Duration;

use sidefx_core::{EffectId, Event, Receipt, RunCommand, RunId, RunStatus, SkipReason, now_ms};

use crate::chaos::CrashPoint;
use crate::context::{StepContext, StepError};
use crate::step_metrics;

/// `step.started`: a worker picked up attempt `cmd.attempt`.
pub fn step_started(cmd: &RunCommand) -> Event {
    Event::StepStarted {
        ts: now_ms(),
        run_id: cmd.run_id.clone(),
        step_id: cmd.step_id.clone(),
        attempt: cmd.attempt,
    }
}

/// `step.failed`: the attempt failed before the side effect.
pub fn step_failed(cmd: &RunCommand, reason: &str) -> Event {
    Event::StepFailed {
        ts: now_ms(),
        run_id: cmd.run_id.clone(),
        step_id: cmd.step_id.clone(),
        attempt: cmd.attempt,
        reason: reason.to_owned(),
    }
}

/// `side_effect.skipped`: the effect is not performed again, for `reason`.
/// `by` is the run whose row it is: named in the event when it is another run of the key.
pub fn effect_skipped(cmd: &RunCommand, reason: SkipReason, by: &RunId) -> Event {
    Event::SideEffectSkipped {
        ts: now_ms(),
        run_id: cmd.run_id.clone(),
        step_id: cmd.step_id.clone(),
        business_key: cmd.business_key.clone(),
        effect_id: cmd.effect_id(),
        reason,
        by_run: (*by != cmd.run_id).then(|| by.clone()),
    }
}

/// `side_effect.healed`: an `in_progress` row was finished because its artifact exists.
pub fn effect_healed(cmd: &RunCommand) -> Event {
    Event::SideEffectHealed {
        ts: now_ms(),
        run_id: cmd.run_id.clone(),
        effect_id: cmd.effect_id(),
    }
}

/// `side_effect.taken_over`: the expired claim of `previous_owner` is ours now.
pub fn effect_taken_over(cmd: &RunCommand, previous_owner: &str) -> Event {
    Event::SideEffectTakenOver {
        ts: now_ms(),
        run_id: cmd.run_id.clone(),
        step_id: cmd.step_id.clone(),
        effect_id: cmd.effect_id(),
        previous_owner: previous_owner.to_owned(),
    }
}

/// `side_effect.executing`: the claim is held, the effect is about to run.
/// `claim` counts the claims of the effect (1 for the first, then one more per takeover):
/// each execution gets its own broker key, so none is deduplicated away.
pub fn effect_executing(cmd: &RunCommand, claim: u32) -> Event {
    Event::SideEffectExecuting {
        ts: now_ms(),
        run_id: cmd.run_id.clone(),
        step_id: cmd.step_id.clone(),
        business_key: cmd.business_key.clone(),
        effect_id: cmd.effect_id(),
        amount: cmd.amount,
        claim: (claim > 1).then_some(claim),
    }
}

/// `side_effect.done`: the effect happened and is recorded as done.
pub fn effect_done(cmd: &RunCommand, effect_id: &EffectId, receipt: &Receipt) -> Event {
    Event::SideEffectDone {
        ts: now_ms(),
        run_id: cmd.run_id.clone(),
        step_id: cmd.step_id.clone(),
        business_key: cmd.business_key.clone(),
        effect_id: effect_id.clone(),
        artifact_path: receipt.artifact_path().unwrap_or_default().to_owned(),
        receipt: Some(receipt.clone()),
    }
}

/// `chaos.crash_now`: the original's announcement before the deliberate crash, with a note
/// naming the crash point.
pub fn chaos_crash_now(cmd: &RunCommand, point: CrashPoint) -> Event {
    Event::ChaosCrashNow {
        ts: now_ms(),
        run_id: cmd.run_id.clone(),
        step_id: cmd.step_id.clone(),
        note: format!("crashing worker on purpose {}", point.describe()),
    }
}

/// `step.completed`.
pub fn step_completed(cmd: &RunCommand) -> Event {
    Event::StepCompleted {
        ts: now_ms(),
        run_id: cmd.run_id.clone(),
        step_id: cmd.step_id.clone(),
        attempt: cmd.attempt,
    }
}

/// `run.completed`.
pub fn run_completed(cmd: &RunCommand) -> Event {
    Event::RunCompleted {
        ts: now_ms(),
        run_id: cmd.run_id.clone(),
    }
}

/// `retry.considered`, with the backoff that is really applied (zero when dead-lettering).
pub fn retry_considered(cmd: &RunCommand, error: &str, backoff: Duration) -> Event {
    Event::RetryConsidered {
        ts: now_ms(),
        run_id: cmd.run_id.clone(),
        step_id: cmd.step_id.clone(),
        attempt: cmd.attempt,
        next_attempt: cmd.attempt.saturating_add(1),
        max_attempts: cmd.max_attempts,
        error: error.to_owned(),
        // Two decimals, like the original.
        backoff_s: (backoff.as_secs_f64() * 100.0).round() / 100.0,
    }
}

/// `retry.scheduled` for the retry command `next`.
pub fn retry_scheduled(next: &RunCommand) -> Event {
    Event::RetryScheduled {
        ts: now_ms(),
        run_id: next.run_id.clone(),
        step_id: next.step_id.clone(),
        attempt: next.attempt,
    }
}

/// `run.dlq`: the run exhausted its attempts.
pub fn run_dead_lettered(cmd: &RunCommand, error: &str) -> Event {
    Event::RunDlq {
        ts: now_ms(),
        run_id: cmd.run_id.clone(),
        step_id: cmd.step_id.clone(),
        error: error.to_owned(),
        redrive: cmd.redrive,
    }
}

/// The run is `running` in the registry and `step.started` is on its topic. The two are
/// independent (a store write and a produce), so they run concurrently: one round trip.
pub(crate) async fn started(ctx: &StepContext, cmd: &RunCommand) -> Result<(), StepError> {
    let attempts = cmd.attempt.saturating_add(1);
    let (status, event) = tokio::join!(
        ctx.store
            .update_run(&cmd.run_id, RunStatus::Running, attempts),
        ctx.emit(step_started(cmd)),
    );
    status?;
    event
}

/// `step.completed` then `run.completed` (in this order: readers of the run's topic do not
/// sort), while the registry records `completed` concurrently. The command is acked only
/// after all three, so a failure of any one redelivers it and the step repeats them.
pub(crate) async fn finished(ctx: &StepContext, cmd: &RunCommand) -> Result<(), StepError> {
    let attempts = cmd.attempt.saturating_add(1);
    let events = async {
        ctx.emit(step_completed(cmd)).await?;
        ctx.emit(run_completed(cmd)).await
    };
    let (status, events) = tokio::join!(
        ctx.store
            .update_run(&cmd.run_id, RunStatus::Completed, attempts),
        events,
    );
    status?;
    events?;
    step_metrics::record_run_completed(&ctx.store, cmd).await;
    Ok(())
}
