//! The exactly-once step: one command in, one [`StepOutcome`] out. This is the heart of the
//! pattern; read it next to the state table in docs/ARCHITECTURE.md, and
//! [`decision`](crate::decision), where the step decides. The step never acks: the consume
//! loop does, and only for outcomes that say so.
//!
//! Every write after the claim is fenced on this worker's owner name, and every publish uses
//! an idempotency key, so running the whole step again (after a crash, a lost ack or a
//! failed publish) is always safe: that is what lets the loop answer *any* error with
//! "don't ack, let DriftQ redeliver".

use std::time::Duration;

use driftq_client::Message;
use sidefx_core::{Claim, Command, EffectId, MarkDone, NewClaim, RunCommand, SkipReason, now_ms};
use tracing::{info, instrument, warn};

use crate::chaos::{self, CrashPoint};
pub use crate::context::{StepContext, StepError};
use crate::decision::{Decision, Now, Rules, decide};
use crate::effect_failure::{self, Recovery};
use crate::intake::{self, Admission};
use crate::outcome::StepOutcome;
use crate::{broken_step, failure, heartbeat, run_events};

/// Why the demo's forced failure fails (the `step.failed` reason, as in the original).
const FORCED_FAILURE_REASON: &str = "forced_failure_before_side_effect";

/// Decodes a delivered message, admits it (see [`intake`]) and runs the step on it.
///
/// An undecodable message is acked with an error log rather than dead-lettered: a DLQ record
/// needs the run, step and business key, which such a message does not give us, and left
/// unacked it would be redelivered forever while holding one of its partition's two
/// in-flight slots. The raw message stays in the commands topic's log for inspection.
pub async fn handle_message(ctx: &StepContext, msg: &Message) -> Result<StepOutcome, StepError> {
    match serde_json::from_str::<Command>(&msg.value) {
        Ok(Command::Run(cmd)) => match intake::admit(ctx, cmd).await? {
            Admission::Run(cmd) => run_step(ctx, &cmd).await,
            Admission::Refused(outcome) => Ok(outcome),
        },
        Err(err) => Ok(intake::undecodable(msg, &err)),
    }
}

/// Runs one attempt of a command: the state machine of docs/ARCHITECTURE.md, every row.
#[instrument(
    name = "step",
    skip_all,
    fields(run_id = %cmd.run_id, effect_id = %cmd.effect_id(), attempt = cmd.attempt)
)]
pub async fn run_step(ctx: &StepContext, cmd: &RunCommand) -> Result<StepOutcome, StepError> {
    // Demo switch: a transient failure *before* the side effect, e.g. a validation call that
    // timed out. Retrying it is safe because nothing happened yet (no claim either).
    if cmd.attempt < cmd.fail_before_effect_n {
        run_events::started(ctx, cmd).await?;
        ctx.emit(run_events::step_failed(cmd, FORCED_FAILURE_REASON))
            .await?;
        return failure::after_failed_attempt(ctx, cmd, "forced failure before side effect", None)
            .await;
    }

    let outcome = match ctx.mutation {
        Some(mutation) => broken_step::run(mutation, ctx, cmd).await?,
        None => exactly_once_effect(ctx, cmd).await?,
    };
    if matches!(
        outcome,
        StepOutcome::Done | StepOutcome::AlreadyDone | StepOutcome::Healed | StepOutcome::TakenOver
    ) {
        run_events::finished(ctx, cmd).await?;
    }
    info!(outcome = outcome.name(), "step finished");
    Ok(outcome)
}

/// Gathers what the decision needs (the claim, the effect's receipt when someone else's claim
/// is in progress, the time), decides (see [`decision`](crate::decision)) and carries the
/// decision out.
async fn exactly_once_effect(
    ctx: &StepContext,
    cmd: &RunCommand,
) -> Result<StepOutcome, StepError> {
    let effect_id = cmd.effect_id();
    // The store cannot tell two tasks of this process apart (same owner name), so this
    // process-local guard makes sure at most one of them holds the claim.
    let Some(_local) = ctx.local_claims.try_enter(&effect_id) else {
        run_events::started(ctx, cmd).await?;
        info!(
            decision = "busy_here",
            "claim decided: another task of this process holds the effect; leaving for redelivery"
        );
        return Ok(StepOutcome::LeaveForRedelivery);
    };
    // The claim: INSERT ... ON CONFLICT DO NOTHING, so exactly one contender per effect id
    // gets `Acquired`; everyone else gets the existing row to decide on.
    //
    // It runs concurrently with `started`: both writes then share one group commit (one
    // fsync), and the produce overlaps them. Every event that depends on the claim's answer
    // is emitted after both, so `step.started` still comes first on the run's topic. If the
    // produce fails after the claim succeeded, the redelivery finds our own claim and takes it
    // over (at once in this process, after the lease in a restarted one).
    let claim = NewClaim::for_command(cmd, ctx.owner.as_str(), ctx.claim_lease)?;
    let (claim, started) = tokio::join!(ctx.store.claim(claim), run_events::started(ctx, cmd));
    started?;
    let claim = claim?;
    let (receipt, watched) = match &claim {
        Claim::InProgress(row) => {
            let receipt = ctx.effect.lookup(&ctx.effect_ctx(cmd)).await?;
            let watched = ctx.claim_watch.watched(row, tokio::time::Instant::now());
            (receipt, watched)
        }
        Claim::Acquired | Claim::AlreadyDone(_) => (None, Duration::ZERO),
    };
    let now = Now {
        wall_ms: now_ms(),
        watched,
    };
    let rules = Rules {
        owner: &ctx.owner,
        claim_lease: ctx.claim_lease,
        max_attempts: cmd.max_attempts,
        key_retention: ctx.effect.key_retention(),
    };
    let decision = decide(&claim, receipt.as_ref(), now, &rules);
    decision.log();
    carry_out(ctx, cmd, &effect_id, decision).await
}

/// Carries out a decision: the store writes, events and effect it calls for.
async fn carry_out(
    ctx: &StepContext,
    cmd: &RunCommand,
    effect_id: &EffectId,
    decision: Decision,
) -> Result<StepOutcome, StepError> {
    match decision {
        Decision::Perform => execute(ctx, cmd, effect_id, Claimed::Fresh).await,
        Decision::Skip { done_by } => {
            let skipped = run_events::effect_skipped(cmd, SkipReason::AlreadyDone, &done_by);
            ctx.emit(skipped).await?;
            Ok(StepOutcome::AlreadyDone)
        }
        Decision::Heal { receipt, .. } => {
            // Not fenced on purpose: whoever owns the claim, the receipt proves it is done.
            ctx.store.heal(effect_id, &receipt).await?;
            ctx.emit(run_events::effect_healed(cmd)).await?;
            Ok(StepOutcome::Healed)
        }
        Decision::LeaveLive { run, .. } => {
            let skipped = run_events::effect_skipped(cmd, SkipReason::AlreadyInProgress, &run);
            ctx.emit(skipped).await?;
            Ok(StepOutcome::LeaveForRedelivery)
        }
        Decision::TakeOver { previous, claim } => {
            if !take_over(ctx, effect_id, &previous).await? {
                return Ok(StepOutcome::LeaveForRedelivery);
            }
            ctx.emit(run_events::effect_taken_over(cmd, &previous))
                .await?;
            execute(ctx, cmd, effect_id, Claimed::TakenOver { claim }).await
        }
        Decision::GiveUp { previous, reason } => {
            // Taken first, so that one contender alone dead-letters the run; then given back,
            // as for any dead letter. No receipt was found, so nothing is recorded as done.
            if !take_over(ctx, effect_id, &previous).await? {
                return Ok(StepOutcome::LeaveForRedelivery);
            }
            ctx.store.release_claim(effect_id, &ctx.owner).await?;
            failure::dead_letter(ctx, cmd, &reason.dead_letter_error()).await
        }
    }
}

/// The fenced takeover: moves the claim from `previous` to us, unless someone moved it first.
async fn take_over(
    ctx: &StepContext,
    effect_id: &EffectId,
    previous: &str,
) -> Result<bool, StepError> {
    let won = ctx
        .store
        .take_over(effect_id, previous, &ctx.owner, ctx.claim_lease)
        .await?;
    if won {
        ctx.claim_watch.forget(effect_id);
    } else {
        info!(
            previous_owner = %previous,
            "takeover lost: someone else moved the claim first; leaving for redelivery",
        );
    }
    Ok(won)
}

/// How this step came to hold the claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claimed {
    /// `claim` inserted the row: the first time anyone touches this effect.
    Fresh,
    /// `take_over` moved an expired claim to us: the effect's `claim`-th claim.
    TakenOver {
        /// 2 for the first takeover, and so on (the row's `attempts` after it).
        claim: u32,
    },
}

/// Holds the claim: performs the effect, marks it done (fenced), reports it.
async fn execute(
    ctx: &StepContext,
    cmd: &RunCommand,
    effect_id: &EffectId,
    claimed: Claimed,
) -> Result<StepOutcome, StepError> {
    // Chaos crashes only on a fresh claim: a fresh claim happens once per effect, so the
    // restarted worker (which heals, takes over or skips) never crashes again.
    let armed = |point: CrashPoint| claimed == Claimed::Fresh && point.armed(&cmd.fail_mode);
    let claim = match claimed {
        Claimed::Fresh => 1,
        Claimed::TakenOver { claim } => claim,
    };
    let effect_ctx = ctx.effect_ctx(cmd);
    if armed(CrashPoint::AfterClaimBeforeEffect) {
        ctx.emit(run_events::effect_executing(cmd, claim)).await?;
        crash(ctx, cmd, CrashPoint::AfterClaimBeforeEffect).await?;
    }
    // The announcement and the effect overlap (a produce and the effect's own I/O): the claim
    // already decided that the effect runs, and `side_effect.done` waits for both, so the
    // run's topic still reads executing, then done. If the produce fails after the effect,
    // the redelivery heals the claim from the effect's receipt. The heartbeat renews the
    // claim for as long as the effect runs.
    let perform = heartbeat::while_renewing(ctx, effect_id, ctx.effect.perform(&effect_ctx));
    let (announced, performed) = tokio::join!(
        async {
            if armed(CrashPoint::AfterClaimBeforeEffect) {
                Ok(()) // announced before the crash above
            } else {
                ctx.emit(run_events::effect_executing(cmd, claim)).await
            }
        },
        perform,
    );
    announced?;
    let Some(performed) = performed? else {
        return Ok(StepOutcome::LeaveForRedelivery);
    };
    let receipt = match performed {
        Ok(receipt) => receipt,
        Err(err) => match effect_failure::recover(ctx, cmd, &effect_ctx, err).await? {
            Recovery::Found(receipt) => receipt,
            Recovery::Finished(outcome) => return Ok(outcome),
        },
    };
    if armed(CrashPoint::AfterEffectBeforeMarkDone) {
        crash(ctx, cmd, CrashPoint::AfterEffectBeforeMarkDone).await?;
    }

    match ctx.store.mark_done(effect_id, &ctx.owner, &receipt).await? {
        MarkDone::Done => info!(receipt = ?receipt, "effect marked done"),
        // Someone healed it from its receipt meanwhile: done either way.
        MarkDone::AlreadyDone => info!(receipt = ?receipt, "effect was already marked done"),
        MarkDone::LostClaim => {
            // Our lease expired mid-effect and another worker took the claim over; it will
            // find the receipt (or repeat the call with the same key) and finish the run.
            warn!("claim lost before mark-done; the new owner finishes; leaving for redelivery");
            return Ok(StepOutcome::LeaveForRedelivery);
        }
    }
    if armed(CrashPoint::AfterMarkDoneBeforeAck) {
        crash(ctx, cmd, CrashPoint::AfterMarkDoneBeforeAck).await?;
    }

    ctx.emit(run_events::effect_done(cmd, effect_id, &receipt))
        .await?;
    if armed(CrashPoint::AfterEffectBeforeAck) {
        crash(ctx, cmd, CrashPoint::AfterEffectBeforeAck).await?;
    }
    Ok(match claimed {
        Claimed::Fresh => StepOutcome::Done,
        Claimed::TakenOver { .. } => StepOutcome::TakenOver,
    })
}

/// Announces the deliberate crash on the run's event stream (so a watcher sees why the run
/// pauses), then ends the process. Returns only if the announcement could not be published:
/// the step then fails like any other publish failure and is redelivered.
async fn crash(ctx: &StepContext, cmd: &RunCommand, point: CrashPoint) -> Result<(), StepError> {
    ctx.emit(run_events::chaos_crash_now(cmd, point)).await?;
    chaos::crash_now(point)
}
