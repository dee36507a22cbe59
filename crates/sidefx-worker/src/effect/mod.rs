//! THE side effect, as an interface: implement [`SideEffect`] for your real call (charge a
//! card, send a webhook, call an LLM, open a ticket) and the step does the rest.
//!
//! The step decides, through the store's claim, *whether* the effect runs; the effect only
//! says *what* running it means, and how to find out whether it already ran. Two
//! implementations ship: [`TicketEffect`] (a create-only file, the original's demo) and
//! [`ProviderEffect`] (a charge at a Stripe-like HTTP provider).
//!
//! The claim makes a repeat rare, not impossible: a worker can crash after the provider
//! acted and before the row says so. So the effect must be idempotent on its own, and
//! [`EffectCtx::idempotency_key`] is the same on every retry and redelivery of one effect,
//! which is what lets the provider collapse repeats into one execution.

mod provider;
mod ticket;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sidefx_core::{EffectId, Receipt, RunCommand};
use tokio::time::Instant;

pub use provider::ProviderEffect;
pub use ticket::TicketEffect;

/// What one execution of an effect needs to know.
#[derive(Debug, Clone)]
pub struct EffectCtx {
    /// The effect's identity in the store.
    pub effect_id: EffectId,
    /// The key to send to the provider (`Idempotency-Key`): the effect's identity
    /// `<step_id>:<business_key>`, the same for every retry, redelivery and run of it, so
    /// the provider executes it at most once.
    pub idempotency_key: String,
    /// The command that asked for the effect (amount, business key, run).
    pub command: RunCommand,
    /// When the claim may stop protecting this execution: finish (or give up) before it.
    pub deadline: Instant,
}

impl EffectCtx {
    /// The context for `cmd`'s effect, protected by a claim for `lease` from now.
    pub fn for_command(cmd: &RunCommand, lease: Duration) -> Self {
        let effect_id = cmd.effect_id();
        Self {
            idempotency_key: effect_id.identity(),
            effect_id,
            command: cmd.clone(),
            deadline: Instant::now() + lease,
        }
    }
}

/// Why an effect did not produce a receipt, classified by what a retry may do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EffectError {
    /// It certainly did not happen and may succeed later (503, 429, a refused connection):
    /// retry with the same key, after `retry_after` when the provider said so.
    #[error("retryable: {reason}")]
    Retryable {
        /// What went wrong.
        reason: String,
        /// The provider's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// It did not happen and never will with these parameters (a declined card, a refused
    /// request): no retry; the run is dead-lettered.
    #[error("permanent: {reason}")]
    Permanent {
        /// What went wrong.
        reason: String,
    },
    /// It may or may not have happened, or is still happening (a timeout, a dropped
    /// connection after sending, a 409 saying a request with this key is in flight): look it
    /// up before anything else, then repeat the call with the same key.
    #[error("unknown outcome: {reason}")]
    Unknown {
        /// What went wrong.
        reason: String,
    },
}

/// A side effect the worker performs exactly once per effect id.
///
/// Implement both methods for your call; nothing else in the worker changes:
///
/// * `perform` executes it and returns its [`Receipt`], or a classified [`EffectError`].
///   It is called only while the step holds the claim, and with the same
///   `ctx.idempotency_key` every time for one effect.
/// * `lookup` finds this effect's own receipt if it already happened (a worker died after
///   `perform` and before the row was marked done): the step then records it instead of
///   performing again. It must only return a receipt that names this very effect.
pub trait SideEffect: Send + Sync + 'static {
    /// Executes the effect.
    fn perform(&self, ctx: &EffectCtx)
    -> impl Future<Output = Result<Receipt, EffectError>> + Send;

    /// The receipt of an earlier execution of this effect, if there was one.
    fn lookup(
        &self,
        ctx: &EffectCtx,
    ) -> impl Future<Output = Result<Option<Receipt>, EffectError>> + Send;

    /// How long the remote side remembers an idempotency key (a payments API keeps it for a
    /// day), if it forgets them at all. An effect claimed longer ago than this and not found
    /// by [`SideEffect::lookup`] is not performed again automatically: the key may have been
    /// forgotten, so the call could execute twice; the run is dead-lettered with
    /// `idempotency_window_passed` for a person to decide. `None` (the default): keys never
    /// expire, or the effect is idempotent by itself.
    fn key_retention(&self) -> Option<Duration> {
        None
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe twin of [`SideEffect`], so the worker can pick an implementation at
/// start-up (`WORKER_EFFECT`). Every `SideEffect` is one; nobody implements it by hand.
trait DynSideEffect: Send + Sync {
    fn perform<'a>(&'a self, ctx: &'a EffectCtx) -> BoxFuture<'a, Result<Receipt, EffectError>>;
    fn lookup<'a>(
        &'a self,
        ctx: &'a EffectCtx,
    ) -> BoxFuture<'a, Result<Option<Receipt>, EffectError>>;
    fn key_retention(&self) -> Option<Duration>;
}

impl<T: SideEffect> DynSideEffect for T {
    fn perform<'a>(&'a self, ctx: &'a EffectCtx) -> BoxFuture<'a, Result<Receipt, EffectError>> {
        Box::pin(SideEffect::perform(self, ctx))
    }

    fn lookup<'a>(
        &'a self,
        ctx: &'a EffectCtx,
    ) -> BoxFuture<'a, Result<Option<Receipt>, EffectError>> {
        Box::pin(SideEffect::lookup(self, ctx))
    }

    fn key_retention(&self) -> Option<Duration> {
        SideEffect::key_retention(self)
    }
}

/// The effect this worker performs; cheap to clone.
#[derive(Clone)]
pub struct Effect {
    inner: Arc<dyn DynSideEffect>,
    name: &'static str,
}

impl Effect {
    /// Wraps an implementation; `name` goes into log lines (`ticket`, `provider`, …).
    pub fn new(name: &'static str, effect: impl SideEffect) -> Self {
        Self {
            inner: Arc::new(effect),
            name,
        }
    }

    /// The name given to [`Effect::new`].
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// [`SideEffect::perform`].
    pub async fn perform(&self, ctx: &EffectCtx) -> Result<Receipt, EffectError> {
        self.inner.perform(ctx).await
    }

    /// [`SideEffect::lookup`].
    pub async fn lookup(&self, ctx: &EffectCtx) -> Result<Option<Receipt>, EffectError> {
        self.inner.lookup(ctx).await
    }

    /// [`SideEffect::key_retention`].
    pub fn key_retention(&self) -> Option<Duration> {
        self.inner.key_retention()
    }
}

impl std::fmt::Debug for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Effect").field("name", &self.name).finish()
    }
}
