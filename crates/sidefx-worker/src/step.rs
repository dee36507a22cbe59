//! The exactly-once step: one command in, one [`StepOutcome`] out. This is the heart of the
//! pattern; read it next to the state table in DESIGN.md. The step never acks: the consume
//! loop does, and only for outcomes that say so.
//!
//! Every write after the claim is fenced on this worker's owner name, and every publish uses
//! an idempotency key, so running the whole step again (after a crash, a lost ack or a
//! failed publish) is always safe: that is what lets the loop answer *any* error with
//! "don't ack, let DriftQ redeliver".

use std::sync::Arc;
use std::time::Duration;

use driftq_client::Message;
use sidefx_core::{
    Claim, Command, EffectId, EffectRow, MarkDone, NewClaim, PublishError, Publisher, RunCommand,
    SkipReason, Store, StoreError, now_ms,
};
use tokio::sync::Notify;
use tracing::{info, instrument, warn};

use crate::chaos::{self, CrashPoint};
use crate::claim_watch::ClaimWatch;
use crate::effect::{Effect, EffectCtx, EffectError};
use crate::effect_failure::{self, Recovery};
use crate::intake::{self, Admission};
use crate::local_claims::LocalClaims;
use crate::outcome::StepOutcome;
use crate::retry_policy::RetryPolicy;
use crate::{failure, heartbeat, run_events};

/// Why the demo's forced failure fails (the `step.failed` reason, as in the original).
const FORCED_FAILURE_REASON: &str = "forced_failure_before_side_effect";

/// Everything a step needs; cheap to clone (handles only).
#[derive(Debug, Clone)]
pub struct StepContext {
    /// Claims, runs and the retry outbox.
    pub store: Store,
    /// The side effect this worker performs (`WORKER_EFFECT`).
    pub effect: Effect,
    /// Events, retries and dead letters go out through this.
    pub publisher: Publisher,
    /// This process's owner name, for claims (the same name as its DriftQ consumer).
    pub owner: String,
    /// The DriftQ lease (how soon an unacked command is redelivered).
    pub lease: Duration,
    /// How long a claim protects its effect without a heartbeat.
    pub claim_lease: Duration,
    /// Claims of others this process watches, to time their expiry on its own clock.
    pub claim_watch: ClaimWatch,
    /// Backoff between attempts.
    pub retry_policy: RetryPolicy,
    /// Effects some task of this process is handling right now.
    pub local_claims: LocalClaims,
    /// Wakes the retry publisher when a retry is scheduled, so short backoffs are honoured.
    pub retry_wakeup: Arc<Notify>,
    /// The mutation check (debug builds only, `SIDEFX_MUTATION`): a step broken on purpose
    /// so that tests can prove the evidence sees a double execution.
    pub mutation: Option<crate::mutation::Mutation>,
    /// `SIDEFX_CHAOS`: whether a command's chaos switches are honoured (see `intake`).
    pub chaos: bool,
}

/// A step that could not finish. The command is not acked and DriftQ redelivers it.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The store failed (claim, mark done, run status, outbox).
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// An event, DLQ record or retry could not be published.
    #[error("publish: {0}")]
    Publish(#[from] PublishError),
    /// The side effect failed, or its lookup did.
    #[error("side effect: {0}")]
    Effect(#[from] EffectError),
    /// The retry command could not be serialized for the outbox.
    #[error("encoding the retry command: {0}")]
    Encode(#[from] serde_json::Error),
}

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

/// Runs one attempt of a command: the state machine of DESIGN.md, every row.
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
        Some(mutation) => mutation.run(ctx, cmd).await?,
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

/// Decides, through the store's claim, whether this step performs the effect.
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
    match claim? {
        Claim::Acquired => {
            info!(
                decision = "acquired",
                owner = %ctx.owner,
                "claim decided: new claim, executing the effect",
            );
            execute(ctx, cmd, &effect_id, Claimed::Fresh).await
        }
        Claim::AlreadyDone(row) => {
            // Possibly by another run of this business key: the effect is the key's, once.
            info!(
                decision = "already_done",
                by_run = %row.run_id,
                "claim decided: effect already done; skipping it"
            );
            let skipped = run_events::effect_skipped(cmd, SkipReason::AlreadyDone, &row.run_id);
            ctx.emit(skipped).await?;
            Ok(StepOutcome::AlreadyDone)
        }
        Claim::InProgress(row) => resolve_in_progress(ctx, cmd, &effect_id, &row).await,
    }
}

/// The row is `in_progress`: someone claimed the effect and did not finish. Heal, take over,
/// or leave it alone, in that order of preference.
async fn resolve_in_progress(
    ctx: &StepContext,
    cmd: &RunCommand,
    effect_id: &EffectId,
    row: &EffectRow,
) -> Result<StepOutcome, StepError> {
    // The effect's own receipt proves it happened (its owner died before mark-done): record
    // it instead of doing it again. Not fenced on purpose: whoever owns the claim, it is done.
    if let Some(receipt) = ctx.effect.lookup(&ctx.effect_ctx(cmd)).await? {
        ctx.store.heal(effect_id, &receipt).await?;
        info!(
            decision = "healed",
            previous_owner = ?row.owner,
            receipt = ?receipt,
            "claim decided: this effect's receipt found; marked done without repeating it",
        );
        ctx.emit(run_events::effect_healed(cmd)).await?;
        return Ok(StepOutcome::Healed);
    }
    let previous = row.owner.clone().unwrap_or_default();
    // Live unless both clocks agree it expired: the claimer's (the row's expiry, in wall time)
    // and ours (watched unchanged for a full lease; see claim_watch.rs).
    let expired = row.lease_expired(now_ms())
        && ctx
            .claim_watch
            .watched_for(row, ctx.claim_lease, tokio::time::Instant::now());
    if !expired && previous != ctx.owner {
        info!(decision = "live_claim", owner = %previous, lease_expires_ms = ?row.lease_expires_ms,
            "claim decided: another owner holds a live claim; leaving for redelivery");
        let skipped = run_events::effect_skipped(cmd, SkipReason::AlreadyInProgress, &row.run_id);
        ctx.emit(skipped).await?;
        return Ok(StepOutcome::LeaveForRedelivery);
    }
    // Expired (its owner crashed or stalled), or our own claim from an attempt of this
    // process that failed after claiming. Fenced: only one contender wins the takeover.
    if !ctx
        .store
        .take_over(effect_id, &previous, &ctx.owner, ctx.claim_lease)
        .await?
    {
        info!(
            decision = "takeover_lost",
            previous_owner = %previous,
            "claim decided: someone else moved the claim first; leaving for redelivery",
        );
        return Ok(StepOutcome::LeaveForRedelivery);
    }
    // Every takeover counts in the row (`attempts`): a command whose worker dies mid-effect
    // every time, or whose call never gets an outcome, would otherwise be redelivered
    // forever. Past the run's attempts it ends in the DLQ, with the claim given back; the
    // lookup above found no receipt, so nothing is recorded as done.
    if row.attempts >= cmd.max_attempts {
        ctx.store.release_claim(effect_id, &ctx.owner).await?;
        let error = format!(
            "effect_unfinished: claimed {} times without an outcome",
            row.attempts.saturating_add(1)
        );
        warn!(
            decision = "unfinished",
            attempts = row.attempts,
            "claim decided: {error}"
        );
        return failure::dead_letter(ctx, cmd, &error).await;
    }
    // The effect may have reached the provider when it was first claimed (its outcome was
    // unknown, or its worker died mid-call), and the lookup above did not find it. Repeating
    // the call is safe only while the provider still remembers the key; past that, a person
    // decides (the DLQ record says why), the claim given back as for any dead letter.
    if let Some(retention) = ctx.effect.key_retention() {
        let age_ms = now_ms().saturating_sub(row.created_ms);
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        if age_ms >= retention_ms {
            ctx.store.release_claim(effect_id, &ctx.owner).await?;
            let error = format!(
                "idempotency_window_passed: first claimed {} s ago, the provider keeps keys \
                 for {} s; not repeated automatically",
                age_ms / 1000,
                retention.as_secs()
            );
            warn!(decision = "window_passed", age_ms, "claim decided: {error}");
            return failure::dead_letter(ctx, cmd, &error).await;
        }
    }
    info!(
        decision = "taken_over",
        previous_owner = %previous,
        "claim decided: expired claim taken over, executing the effect",
    );
    ctx.emit(run_events::effect_taken_over(cmd, &previous))
        .await?;
    let claim = row.attempts.saturating_add(1);
    execute(ctx, cmd, effect_id, Claimed::TakenOver { claim }).await
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

impl StepContext {
    /// What the effect gets for `cmd`: its identity, key and command, and a deadline one
    /// claim lease from now.
    pub fn effect_ctx(&self, cmd: &RunCommand) -> EffectCtx {
        EffectCtx::for_command(cmd, self.claim_lease)
    }
}

/// Announces the deliberate crash on the run's event stream (so a watcher sees why the run
/// pauses), then ends the process. Returns only if the announcement could not be published:
/// the step then fails like any other publish failure and is redelivered.
async fn crash(ctx: &StepContext, cmd: &RunCommand, point: CrashPoint) -> Result<(), StepError> {
    ctx.emit(run_events::chaos_crash_now(cmd, point)).await?;
    chaos::crash_now(point)
}
