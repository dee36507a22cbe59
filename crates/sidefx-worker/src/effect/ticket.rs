//! [`TicketEffect`]: the original's side effect, a ticket file per business key, written
//! create-only; each ticket actually created is also recorded in the ticket ledger.

use sidefx_core::artifacts::{ArtifactError, Artifacts, LedgerEntry, Ticket, TicketWrite};
use sidefx_core::{Receipt, now_ms};
use tracing::{error, info};

use super::{EffectCtx, EffectError, SideEffect};

/// Writes `tickets/ticket_<business_key>.json`. The write is idempotent on its own (temp
/// file, fsync, hard link that fails if the ticket exists), the way a real provider is
/// idempotent per key.
#[derive(Debug, Clone)]
pub struct TicketEffect {
    artifacts: Artifacts,
    owner: String,
    /// Off only in the mutation check (debug builds).
    #[cfg(debug_assertions)]
    create_only: bool,
}

impl TicketEffect {
    /// Tickets under `artifacts`; `owner` (this worker) is recorded in the ledger.
    pub fn new(artifacts: Artifacts, owner: impl Into<String>) -> Self {
        Self {
            artifacts,
            owner: owner.into(),
            #[cfg(debug_assertions)]
            create_only: true,
        }
    }

    /// The mutation check's broken effect: every call writes the ticket (replacing it) and
    /// counts as an execution, like an integration with no idempotency of its own.
    #[cfg(debug_assertions)]
    pub fn without_create_only(mut self) -> Self {
        self.create_only = false;
        self
    }

    async fn write(&self, ticket: &Ticket) -> Result<TicketWrite, ArtifactError> {
        #[cfg(debug_assertions)]
        if !self.create_only {
            return self
                .artifacts
                .overwrite_ticket(ticket)
                .await
                .map(TicketWrite::Created);
        }
        self.artifacts.write_ticket(ticket).await
    }

    /// Records a created ticket in the ledger. A failure here does not undo the effect, so
    /// it is logged, not returned: the missing line shows up as a loss in `sidefx torture`.
    async fn record(&self, ctx: &EffectCtx) {
        let entry = LedgerEntry {
            effect_id: ctx.effect_id.clone(),
            business_key: ctx.command.business_key.clone(),
            run_id: ctx.command.run_id.clone(),
            owner: self.owner.clone(),
            ts_ms: now_ms(),
        };
        if let Err(err) = self.artifacts.append_ledger(entry).await {
            error!(error = %err, "ticket created but not recorded in the ledger");
        }
    }
}

impl SideEffect for TicketEffect {
    async fn perform(&self, ctx: &EffectCtx) -> Result<Receipt, EffectError> {
        let ticket = Ticket::for_command(&ctx.command, now_ms());
        match self.write(&ticket).await.map_err(|e| classify(&e))? {
            TicketWrite::Created(path) => {
                self.record(ctx).await;
                info!(path = %path.display(), "effect executed: ticket created");
                Ok(Receipt::ticket(path.to_string_lossy()))
            }
            TicketWrite::AlreadyExisted(path) => {
                // A takeover of a claim whose owner wrote the ticket after our lookup, or a
                // business key reused by another run: the create-only link keeps it to one
                // ticket, and nothing executed here.
                info!(path = %path.display(), "effect not executed: the ticket existed");
                Ok(Receipt::ticket(path.to_string_lossy()))
            }
        }
    }

    /// This effect's own ticket: one that exists *and* names this effect (its identity: step
    /// and business key; whichever run of the key wrote it). A file that is not a ticket of
    /// this version proves nothing. The
    /// directory is synced first, so a ticket whose writer died before its own directory
    /// fsync is durable before we mark the effect done on its strength.
    async fn lookup(&self, ctx: &EffectCtx) -> Result<Option<Receipt>, EffectError> {
        let key = &ctx.command.business_key;
        self.artifacts
            .sync_tickets_dir()
            .await
            .map_err(|e| classify(&e))?;
        let ticket = match self.artifacts.read_ticket(key).await {
            Ok(ticket) => ticket,
            // Unreadable as a ticket of this version (e.g. the original's): not our proof.
            Err(ArtifactError::Json(_)) => None,
            Err(err) => return Err(classify(&err)),
        };
        Ok(ticket
            .filter(|t| t.effect_id.identity() == ctx.effect_id.identity())
            .map(|_| Receipt::ticket(self.artifacts.ticket_path(key).to_string_lossy())))
    }
}

/// A failed file operation did not create the ticket, except when only the final directory
/// fsync failed: the ticket then exists but may not survive a power loss.
pub(super) fn classify(err: &ArtifactError) -> EffectError {
    let reason = err.to_string();
    match err {
        ArtifactError::Io { op: "syncing", .. } | ArtifactError::Task(_) => {
            EffectError::Unknown { reason }
        }
        ArtifactError::Io { .. } => EffectError::Retryable {
            reason,
            retry_after: None,
        },
        ArtifactError::Json(_) => EffectError::Permanent { reason },
    }
}
