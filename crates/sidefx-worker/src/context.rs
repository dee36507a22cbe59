//! What every part of a step works with: the [`StepContext`] (handles to the store, the
//! effect, the broker and this process's guards) and the [`StepError`] that makes the
//! consume loop leave a command unacked. Nothing here knows the step's state machine, so
//! the modules that carry out its decisions (`failure`, `run_events`, `heartbeat`,
//! `effect_failure`, `intake`) depend on this module and not on `step`.

use std::sync::Arc;
use std::time::Duration;

use sidefx_core::{Event, PublishError, Publisher, RunCommand, Store, StoreError};
use tokio::sync::Notify;

use crate::claim_watch::ClaimWatch;
use crate::effect::{Effect, EffectCtx, EffectError};
use crate::local_claims::LocalClaims;
use crate::retry_policy::RetryPolicy;

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

impl StepContext {
    /// What the effect gets for `cmd`: its identity, key and command, and a deadline one
    /// claim lease from now.
    pub fn effect_ctx(&self, cmd: &RunCommand) -> EffectCtx {
        EffectCtx::for_command(cmd, self.claim_lease)
    }

    /// Records `event` in its run's history and publishes it to the run's topic, at once
    /// (the store's commit and the broker's produce overlap: one round trip, not two). A
    /// failure of either fails the step (no ack): events are keyed, so the redelivered step
    /// emits them again, and the history and the broker each keep one of each.
    pub(crate) async fn emit(&self, event: Event) -> Result<(), StepError> {
        tracing::debug!(event = event.kind(), "emit");
        let (recorded, published) = tokio::join!(
            self.store.record_events(vec![event.clone()]),
            self.publisher.event(&event),
        );
        recorded?;
        Ok(published?)
    }
}
