//! The heartbeat: while the effect runs, the claim is renewed (fenced on our owner) every
//! third of its lease, so a slow effect is never taken over by a worker that thinks its owner
//! died. A worker that finds its claim gone stops the effect and does not mark it done; a
//! worker that cannot reach the store stops before its last renewal runs out.

use std::future::Future;

use sidefx_core::EffectId;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, warn};

use crate::context::{StepContext, StepError};

/// Runs `work` while renewing our claim on `effect_id`. `None` when the claim was lost (or
/// could not be renewed in time): `work` was dropped, and the caller must not mark it done.
pub async fn while_renewing<T>(
    ctx: &StepContext,
    effect_id: &EffectId,
    work: impl Future<Output = T>,
) -> Result<Option<T>, StepError> {
    let every = ctx.claim_lease / 3;
    let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut renewed_at = Instant::now();
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return Ok(Some(out)),
            _ = ticks.tick() => {
                match ctx.store.renew_claim(effect_id, &ctx.owner, ctx.claim_lease).await {
                    Ok(true) => {
                        renewed_at = Instant::now();
                        debug!("claim renewed");
                    }
                    Ok(false) => {
                        warn!("claim lost while the effect ran: stopping it, not marking it done");
                        return Ok(None);
                    }
                    // The claim still holds until one lease after the last renewal; stop
                    // before that, when another worker could take it over.
                    Err(err) if renewed_at.elapsed() + every >= ctx.claim_lease => {
                        warn!(error = %err, "claim could not be renewed in time: stopping the effect");
                        return Ok(None);
                    }
                    Err(err) => warn!(error = %err, "claim renewal failed; trying again"),
                }
            }
        }
    }
}
