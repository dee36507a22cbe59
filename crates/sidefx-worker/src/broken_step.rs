//! The step of a worker broken on purpose (`SIDEFX_MUTATION`, see `mutation.rs`): what a test
//! of the evidence runs to prove the evidence sees a double execution.

use sidefx_core::{Claim, NewClaim, RunCommand};
use tracing::warn;

use crate::chaos::{self, CrashPoint};
use crate::context::{StepContext, StepError};
use crate::mutation::Mutation;
use crate::outcome::StepOutcome;
use crate::run_events;

/// The broken step. The claim row is still written (so the run looks normal in the
/// store) and the chaos crash points still fire on its first delivery, which is what
/// makes DriftQ redeliver in the matrix.
pub async fn run(
    mutation: Mutation,
    ctx: &StepContext,
    cmd: &RunCommand,
) -> Result<StepOutcome, StepError> {
    let Mutation::RerunEffect = mutation;
    let effect_id = cmd.effect_id();
    let claim = NewClaim::for_command(cmd, ctx.owner.as_str(), ctx.claim_lease)?;
    let fresh = matches!(ctx.store.claim(claim).await?, Claim::Acquired);
    let crash_at = |point: CrashPoint| fresh && point.armed(&cmd.fail_mode);
    run_events::started(ctx, cmd).await?;
    // Each delivery executes, so each gets its own announcement key.
    let claim = 2 + rand::random::<u32>() % 1_000_000;
    ctx.emit(run_events::effect_executing(cmd, claim)).await?;
    if crash_at(CrashPoint::AfterClaimBeforeEffect) {
        chaos::crash_now(CrashPoint::AfterClaimBeforeEffect);
    }
    let mut effect_ctx = ctx.effect_ctx(cmd);
    effect_ctx.idempotency_key = format!(
        "{}:delivery-{:016x}",
        effect_ctx.idempotency_key,
        rand::random::<u64>()
    );
    warn!(key = %effect_ctx.idempotency_key, "MUTATION: performing the effect regardless of the claim");
    let receipt = ctx.effect.perform(&effect_ctx).await?;
    for point in [
        CrashPoint::AfterEffectBeforeMarkDone,
        CrashPoint::AfterEffectBeforeAck,
    ] {
        if crash_at(point) {
            chaos::crash_now(point);
        }
    }
    ctx.store.heal(&effect_id, &receipt).await?;
    if crash_at(CrashPoint::AfterMarkDoneBeforeAck) {
        chaos::crash_now(CrashPoint::AfterMarkDoneBeforeAck);
    }
    ctx.emit(run_events::effect_done(cmd, &effect_id, &receipt))
        .await?;
    Ok(StepOutcome::Done)
}
