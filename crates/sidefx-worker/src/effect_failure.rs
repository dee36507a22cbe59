//! What the step does when the effect returned an error, by the error's class. This is where
//! a declined card ends in the DLQ instead of being redelivered forever, and where a call
//! whose outcome is unknown is looked up before anything is repeated.
//!
//! | class | the effect… | the step |
//! |---|---|---|
//! | `Retryable` | certainly did not happen | releases the claim, retries after a backoff (at least the provider's `Retry-After`), with the same idempotency key; dead-letters on the last attempt |
//! | `Permanent` | did not happen, never will | releases the claim, dead-letters the run at once |
//! | `Unknown` | may have happened, or is still happening | looks it up: found, it is recorded as done; not found, keeps the claim and leaves the command for redelivery, which looks again and then repeats the call with the same key |
//!
//! Why an unknown outcome keeps its claim instead of scheduling a fresh attempt: the call may
//! still be running at the provider (a 409 `request_in_flight` says so outright). Burning
//! attempts on it could dead-letter a run whose charge then commits. The redelivery comes
//! after the broker's lease; the takeovers it costs are counted in the claim row, which bounds
//! them (see `step.rs`, the unfinished-claim rule).

use std::time::Duration;

use sidefx_core::{Receipt, RunCommand};
use tracing::{info, warn};

use crate::context::{StepContext, StepError};
use crate::effect::{EffectCtx, EffectError};
use crate::failure;
use crate::outcome::StepOutcome;

/// Where a failed effect leaves the step.
#[derive(Debug)]
pub enum Recovery {
    /// The lookup after an unknown outcome found this effect's receipt: record it as done.
    Found(Receipt),
    /// The step is over: retry scheduled, dead-lettered, or left for redelivery.
    Finished(StepOutcome),
}

/// Handles `err` from `perform` while this step holds the claim on `ctx`'s effect.
pub async fn recover(
    ctx: &StepContext,
    cmd: &RunCommand,
    effect_ctx: &EffectCtx,
    err: EffectError,
) -> Result<Recovery, StepError> {
    let (reason, retry_after) = match err {
        EffectError::Unknown { reason } => {
            // An error of the lookup itself leaves the claim in place: the redelivery finds
            // it in progress and looks again before doing anything.
            if let Some(receipt) = ctx.effect.lookup(effect_ctx).await? {
                info!(receipt = ?receipt, %reason,
                    "effect outcome was unknown; looked up: it happened, recording it");
                return Ok(Recovery::Found(receipt));
            }
            info!(%reason,
                "effect outcome was unknown; looked up: not (yet) there; keeping the claim for the redelivery");
            return Ok(Recovery::Finished(StepOutcome::LeaveForRedelivery));
        }
        EffectError::Retryable {
            reason,
            retry_after,
        } => (reason, retry_after),
        EffectError::Permanent { reason } => {
            if !released(ctx, effect_ctx).await? {
                return Ok(Recovery::Finished(StepOutcome::LeaveForRedelivery));
            }
            warn!(%reason, "effect failed permanently; dead-lettering the run");
            let error = format!("effect_permanent: {reason}");
            return Ok(Recovery::Finished(
                failure::dead_letter(ctx, cmd, &error).await?,
            ));
        }
    };
    retry(ctx, cmd, effect_ctx, &reason, retry_after).await
}

/// Releases the claim and schedules the next attempt (or dead-letters the last one).
async fn retry(
    ctx: &StepContext,
    cmd: &RunCommand,
    effect_ctx: &EffectCtx,
    reason: &str,
    retry_after: Option<Duration>,
) -> Result<Recovery, StepError> {
    if !released(ctx, effect_ctx).await? {
        return Ok(Recovery::Finished(StepOutcome::LeaveForRedelivery));
    }
    let error = format!("effect_retryable: {reason}");
    let outcome = failure::after_failed_attempt(ctx, cmd, &error, retry_after).await?;
    Ok(Recovery::Finished(outcome))
}

/// Gives the claim back so the next attempt can claim it afresh. False when the claim is
/// no longer ours (our lease ran out and another worker took it over): that worker decides.
async fn released(ctx: &StepContext, effect_ctx: &EffectCtx) -> Result<bool, StepError> {
    let released = ctx
        .store
        .release_claim(&effect_ctx.effect_id, &ctx.owner)
        .await?;
    if !released {
        warn!("claim lost while the effect failed; the new owner decides; leaving for redelivery");
    }
    Ok(released)
}
