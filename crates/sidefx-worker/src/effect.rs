//! THE side effect. This is the one function to replace with your real call: charge a card,
//! send a webhook, call an LLM, open a ticket.
//!
//! The step guarantees that this runs at most once *per claim*. It can still run twice for
//! one effect in one rare case: a worker is so slow that its claim lease expires mid-effect
//! and another worker takes the claim over. So the effect must be idempotent on its own:
//!
//! * here, the ticket is written create-only (temp file, fsync, hard link that fails if the
//!   ticket exists): a second writer never overwrites, a reader never sees half a ticket;
//! * with a real provider, send `effect_id` as its `Idempotency-Key` (Stripe, Adyen, most
//!   webhook receivers and ticket APIs support one). `effect_id` is the same for every
//!   retry and redelivery of this step, so the provider collapses repeats into one charge.

use std::path::PathBuf;

use sidefx_core::artifacts::{ArtifactError, Artifacts, Ticket, TicketWrite};
use sidefx_core::ids::EffectId;
use sidefx_core::messages::{RunCommand, now_ms};

/// Performs the side effect for `cmd` and returns the path of its proof (the ticket).
///
/// Returns `Ok` both when this call created the ticket and when it already existed: in both
/// cases the effect has happened exactly once, which is all the caller needs to know before
/// marking the claim done.
pub async fn perform(
    artifacts: &Artifacts,
    cmd: &RunCommand,
    effect_id: &EffectId,
) -> Result<PathBuf, ArtifactError> {
    // A real integration would look like:
    //
    //     provider.charge(amount, currency)
    //         .idempotency_key(effect_id.as_str())   // same key on every retry
    //         .send().await?;
    //
    // and store the provider's charge id where we store the ticket path.
    let ticket = Ticket::for_command(cmd, now_ms());
    match artifacts.write_ticket(&ticket).await? {
        TicketWrite::Created(path) => {
            tracing::info!(
                effect_id = %effect_id,
                path = %path.display(),
                "effect executed: ticket created",
            );
            Ok(path)
        }
        TicketWrite::AlreadyExisted(path) => {
            // Only possible after a takeover of a claim whose owner did write the ticket
            // between our "no artifact" check and now, or for a business key reused by
            // another run: the create-only write is what keeps it to one ticket.
            tracing::info!(
                effect_id = %effect_id,
                path = %path.display(),
                "effect already present: ticket existed",
            );
            Ok(path)
        }
    }
}
