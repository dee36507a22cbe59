//! [`ProviderEffect`]: a charge at a Stripe-like payments provider (`POST /v1/charges` with an
//! `Idempotency-Key`), then a ticket naming the charge as its local file proof. It works
//! against `sidefx-provider` or any server that speaks the same contract
//! (crates/sidefx-provider/README.md).

use std::collections::BTreeMap;
use std::time::Duration;

use sidefx_core::artifacts::{Artifacts, Ticket};
use sidefx_core::{Receipt, now_ms};
use sidefx_provider::client::{ChargeReply, ClientError, ProviderClient};
use sidefx_provider::wire::{Charge, ChargeRequest, ErrorDetail};
use tracing::info;

use super::ticket::classify as ticket_error;
use super::{EffectCtx, EffectError, SideEffect};

/// The metadata key that ties a charge to the effect that made it: `lookup` heals only from
/// a charge that carries this effect's identity (`<step_id>:<business_key>`).
const EFFECT_METADATA: &str = "effect";

/// How long a payments provider keeps an idempotency key by default: a day, as Stripe.
pub const DEFAULT_KEY_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// Charges the command's amount at the provider, once per effect id.
#[derive(Debug, Clone)]
pub struct ProviderEffect {
    client: ProviderClient,
    artifacts: Artifacts,
    key_retention: Duration,
}

impl ProviderEffect {
    /// A provider at `base_url`; every call gives up after `timeout` (keep it well under the
    /// claim lease, so a slow call ends while the claim still protects it). The provider
    /// keeps idempotency keys for a day, as Stripe does; [`ProviderEffect::with_key_retention`]
    /// says otherwise.
    pub fn new(
        base_url: &str,
        timeout: Duration,
        artifacts: Artifacts,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            client: ProviderClient::new(base_url, timeout)?,
            artifacts,
            key_retention: DEFAULT_KEY_RETENTION,
        })
    }

    /// The same effect, for a provider that keeps idempotency keys for `retention`.
    #[must_use]
    pub fn with_key_retention(mut self, retention: Duration) -> Self {
        self.key_retention = retention;
        self
    }

    /// The charge's file proof: a create-only ticket holding the charge id. Writing it twice
    /// (a replayed charge after a crash) leaves the first one.
    async fn write_ticket(&self, ctx: &EffectCtx, charge: &Charge) -> Result<Receipt, EffectError> {
        let ticket = Ticket::for_charge(&ctx.command, now_ms(), &charge.id);
        let written = self
            .artifacts
            .write_ticket(&ticket)
            .await
            .map_err(|e| ticket_error(&e))?;
        Ok(Receipt::Charge {
            charge_id: charge.id.clone(),
            ticket_path: written.path().to_string_lossy().into_owned(),
        })
    }
}

/// The request for `ctx`'s effect. Always the same parameters for one effect: a provider
/// refuses a key reused with other parameters.
fn charge_request(ctx: &EffectCtx) -> ChargeRequest {
    let cmd = &ctx.command;
    let metadata = BTreeMap::from([
        (EFFECT_METADATA.to_owned(), ctx.effect_id.identity()),
        ("run_id".to_owned(), cmd.run_id.to_string()),
    ]);
    ChargeRequest {
        amount: minor_units(cmd.amount),
        currency: "usd".to_owned(),
        reference: cmd.business_key.to_string(),
        metadata,
    }
}

/// Dollars to cents, rounded (the API only accepts positive, finite amounts).
fn minor_units(amount: f64) -> u64 {
    // The cast saturates; the API caps amounts far below u64::MAX cents.
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "rounded, positive and bounded by the API's validation"
    )]
    let cents = (amount * 100.0).round().max(0.0) as u64;
    cents
}

impl SideEffect for ProviderEffect {
    async fn perform(&self, ctx: &EffectCtx) -> Result<Receipt, EffectError> {
        let reply = self
            .client
            .create_charge(&ctx.idempotency_key, &charge_request(ctx))
            .await
            .map_err(|e| unanswered(&e))?;
        let retryable = reply.is_retryable();
        match reply {
            ChargeReply::Charged { charge, replayed } => {
                info!(charge_id = %charge.id, replayed, key = %ctx.idempotency_key,
                    "effect executed: provider charged (replayed: the key made a repeat a no-op)");
                self.write_ticket(ctx, &charge).await
            }
            // A decline is final: the same key replays it, a new key would be a new payment.
            ChargeReply::Declined { error, .. } => Err(EffectError::Permanent {
                reason: format!("declined: {}", error.code),
            }),
            ChargeReply::Rejected {
                status,
                error,
                retry_after,
            } => Err(rejection(status, &error, retry_after, retryable)),
        }
    }

    /// This effect's charge: first its ticket (no network), then the provider's list of
    /// charges for the business key, keeping only one whose metadata names this effect.
    async fn lookup(&self, ctx: &EffectCtx) -> Result<Option<Receipt>, EffectError> {
        let key = &ctx.command.business_key;
        self.artifacts
            .sync_tickets_dir()
            .await
            .map_err(|e| ticket_error(&e))?;
        if let Ok(Some(ticket)) = self.artifacts.read_ticket(key).await
            && ticket.effect_id.identity() == ctx.effect_id.identity()
            && let Some(charge_id) = ticket.charge_id
        {
            let ticket_path = self
                .artifacts
                .ticket_path(key)
                .to_string_lossy()
                .into_owned();
            return Ok(Some(Receipt::Charge {
                charge_id,
                ticket_path,
            }));
        }
        let charges = self
            .client
            .list_charges(key.as_str())
            .await
            .map_err(|e| unanswered(&e))?;
        let identity = ctx.effect_id.identity();
        let ours = charges
            .into_iter()
            .find(|c| c.metadata.get(EFFECT_METADATA) == Some(&identity));
        match ours {
            Some(charge) => self.write_ticket(ctx, &charge).await.map(Some),
            None => Ok(None),
        }
    }

    fn key_retention(&self) -> Option<Duration> {
        Some(self.key_retention)
    }
}

/// No answer: certainly not sent (retry), or sent with the outcome unknown (look up first).
fn unanswered(err: &ClientError) -> EffectError {
    let reason = err.to_string();
    match err {
        ClientError::NotSent(_) => EffectError::Retryable {
            reason,
            retry_after: None,
        },
        ClientError::Build(_) => EffectError::Permanent { reason },
        ClientError::Unknown(_) | ClientError::Decode { .. } | ClientError::Status { .. } => {
            EffectError::Unknown { reason }
        }
    }
}

/// A refusal that charged nothing by itself. A 409 says a request with this key is still in
/// flight: its outcome is unknown, not "nothing happened". 429 and 5xx are worth retrying with
/// the same key; a 400 (bad parameters, the key reused with other ones) is refused again.
fn rejection(
    status: u16,
    error: &ErrorDetail,
    retry_after: Option<Duration>,
    retryable: bool,
) -> EffectError {
    let reason = format!(
        "provider answered {status} {}: {}",
        error.code, error.message
    );
    if status == 409 {
        EffectError::Unknown { reason }
    } else if retryable {
        EffectError::Retryable {
            reason,
            retry_after,
        }
    } else {
        EffectError::Permanent { reason }
    }
}
