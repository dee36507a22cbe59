//! The effect checks: every `done` row has exactly one ticket that matches it, every ticket
//! has a `done` row, no claim is stuck long after its lease, no step has two effects.
//!
//! One keyset-paged walk over `side_effects` reads each done row's ticket; tickets that no
//! row explained are looked up afterwards, one by one (there are none in a healthy store).

use std::collections::HashSet;

use super::findings::{Findings, ViolationKind, WarningKind};
use super::tickets::TicketDir;
use super::{Ctx, VerifyError};
use crate::artifacts::{ArtifactError, Ticket};
use crate::ids::{BusinessKey, EffectId};
use crate::messages::Command;
use crate::store::{EffectRow, EffectStatus};

/// Rows per page: big enough that per-query overhead vanishes, small enough that the shared
/// connection is never held for long.
const PAGE_SIZE: u32 = 1000;

/// What the walk counted.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct EffectCounts {
    pub(super) done: u64,
    pub(super) in_progress: u64,
}

/// A done row whose key's ticket names another effect; judged once all rows are seen.
#[derive(Debug)]
struct Foreign {
    effect_id: EffectId,
    business_key: BusinessKey,
    ticket_effect_id: EffectId,
}

/// A ticket read: missing, present, or present but not a ticket (already reported).
enum Read {
    Missing,
    Unreadable,
    Found(Box<Ticket>),
}

/// The state of one verification's effect checks.
struct Pass<'a> {
    ctx: &'a Ctx<'a>,
    findings: &'a mut Findings,
    counts: EffectCounts,
    /// Ticket keys already explained by a row or already reported.
    accounted: HashSet<BusinessKey>,
    foreign: Vec<Foreign>,
}

/// Runs every effect check, reporting into `findings`.
pub(super) async fn check(
    ctx: &Ctx<'_>,
    dir: &TicketDir,
    findings: &mut Findings,
) -> Result<EffectCounts, VerifyError> {
    for step in ctx.store.duplicate_step_effects().await? {
        findings.violation(ViolationKind::DuplicateStepEffects {
            run_id: step.run_id,
            step_id: step.step_id,
            effect_ids: step.effect_ids,
        });
    }
    let mut pass = Pass {
        ctx,
        findings,
        counts: EffectCounts::default(),
        accounted: HashSet::new(),
        foreign: Vec::new(),
    };
    let mut after: Option<EffectId> = None;
    loop {
        let page = ctx.store.effects_page(after.as_ref(), PAGE_SIZE).await?;
        let full = page.len() == PAGE_SIZE as usize;
        after = page.last().map(|row| row.effect_id.clone());
        for row in &page {
            pass.row(row).await?;
        }
        if !full {
            break;
        }
    }
    pass.unexplained_tickets(dir).await?;
    pass.judge_foreign();
    Ok(pass.counts)
}

impl Pass<'_> {
    async fn row(&mut self, row: &EffectRow) -> Result<(), VerifyError> {
        match row.status {
            EffectStatus::Done => {
                self.counts.done += 1;
                self.done_row(row).await
            }
            EffectStatus::InProgress => {
                self.counts.in_progress += 1;
                self.in_progress_row(row).await
            }
        }
    }

    async fn done_row(&mut self, row: &EffectRow) -> Result<(), VerifyError> {
        let key = &row.business_key;
        match self.read(key).await? {
            Read::Missing => self.findings.violation(ViolationKind::MissingTicket {
                effect_id: row.effect_id.clone(),
                business_key: key.clone(),
            }),
            Read::Unreadable => {}
            Read::Found(ticket) if ticket.effect_id == row.effect_id => {
                self.accounted.insert(key.clone());
                self.compare(row, &ticket);
            }
            Read::Found(ticket) => self.foreign.push(Foreign {
                effect_id: row.effect_id.clone(),
                business_key: key.clone(),
                ticket_effect_id: ticket.effect_id,
            }),
        }
        Ok(())
    }

    /// A live claim is a worker at work. An expired one is normal for a moment (the command
    /// is redelivered and the claim taken over or healed), so only one expired for longer
    /// than `stale_after` is reported: by then nothing is coming back for it.
    async fn in_progress_row(&mut self, row: &EffectRow) -> Result<(), VerifyError> {
        // Rows of the original starter have no lease: expired since their last change.
        let expired_at = row.lease_expires_ms.unwrap_or(row.updated_ms);
        let expired_ms_ago = self.ctx.now_ms.saturating_sub(expired_at);
        if expired_ms_ago < self.ctx.stale_after_ms() {
            return Ok(());
        }
        let key = &row.business_key;
        let kind = match self.read(key).await? {
            Read::Found(ticket) if ticket.effect_id == row.effect_id => {
                self.accounted.insert(key.clone());
                ViolationKind::UnrecordedEffect {
                    effect_id: row.effect_id.clone(),
                    business_key: key.clone(),
                    expired_ms_ago,
                }
            }
            _ => ViolationKind::StaleClaim {
                effect_id: row.effect_id.clone(),
                owner: row.owner.clone(),
                expired_ms_ago,
            },
        };
        self.findings.violation(kind);
        Ok(())
    }

    /// Tickets no row explained during the walk: look up the effect each one names.
    async fn unexplained_tickets(&mut self, dir: &TicketDir) -> Result<(), VerifyError> {
        for key in &dir.keys {
            if self.accounted.contains(key) {
                continue;
            }
            // Gone since the scan, or unreadable (reported by `read`): nothing to add.
            let Read::Found(ticket) = self.read(key).await? else {
                continue;
            };
            match self.ctx.store.get_effect(&ticket.effect_id).await? {
                None => self.findings.violation(ViolationKind::TicketWithoutRow {
                    business_key: key.clone(),
                    effect_id: ticket.effect_id,
                }),
                // Done since the walk passed it (a live system), or filed under another key.
                Some(row) if row.status == EffectStatus::Done => {
                    self.accounted.insert(key.clone());
                    self.compare(&row, &ticket);
                }
                // Still in progress: a worker between its effect and mark-done (a stale one
                // was reported during the walk).
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// A done row whose key's ticket belongs to another effect is fine if that effect is a
    /// done row with this ticket (the key was reused; one ticket, one charge), and a broken
    /// record otherwise.
    fn judge_foreign(&mut self) {
        for f in std::mem::take(&mut self.foreign) {
            if self.accounted.contains(&f.business_key) {
                self.findings.warning(WarningKind::SharedTicket {
                    effect_id: f.effect_id,
                    business_key: f.business_key,
                    ticket_effect_id: f.ticket_effect_id,
                });
            } else {
                self.findings.violation(ViolationKind::TicketMismatch {
                    expected: f.effect_id.to_string(),
                    found: f.ticket_effect_id.to_string(),
                    effect_id: f.effect_id,
                    business_key: f.business_key,
                    field: "effect_id".to_owned(),
                });
            }
        }
    }

    fn compare(&mut self, row: &EffectRow, ticket: &Ticket) {
        if let Some((field, expected, found)) = mismatch(row, ticket) {
            self.findings.violation(ViolationKind::TicketMismatch {
                effect_id: row.effect_id.clone(),
                business_key: row.business_key.clone(),
                field: field.to_owned(),
                expected,
                found,
            });
        }
    }

    /// Reads a ticket; a file that is not a valid ticket is reported once and skipped.
    async fn read(&mut self, key: &BusinessKey) -> Result<Read, VerifyError> {
        match self.ctx.artifacts.read_ticket(key).await {
            Ok(Some(ticket)) => Ok(Read::Found(Box::new(ticket))),
            Ok(None) => Ok(Read::Missing),
            Err(ArtifactError::Json(err)) => {
                if self.accounted.insert(key.clone()) {
                    self.findings.violation(ViolationKind::UnreadableTicket {
                        business_key: key.clone(),
                        error: err.to_string(),
                    });
                }
                Ok(Read::Unreadable)
            }
            Err(err) => Err(err.into()),
        }
    }
}

/// The first field in which `ticket` disagrees with `row`: `(field, expected, found)`.
/// The amount is checked against the command stored with the claim, when it is one of ours
/// (rows of the original starter carry their own payload shape).
fn mismatch(row: &EffectRow, ticket: &Ticket) -> Option<(&'static str, String, String)> {
    let pairs = [
        (
            "effect_id",
            row.effect_id.as_str(),
            ticket.effect_id.as_str(),
        ),
        ("run_id", row.run_id.as_str(), ticket.run_id.as_str()),
        ("step_id", row.step_id.as_str(), ticket.step_id.as_str()),
        (
            "business_key",
            row.business_key.as_str(),
            ticket.business_key.as_str(),
        ),
    ];
    if let Some((field, expected, found)) = pairs.into_iter().find(|(_, a, b)| a != b) {
        return Some((field, expected.to_owned(), found.to_owned()));
    }
    let Ok(Command::Run(cmd)) = serde_json::from_str::<Command>(&row.payload_json) else {
        return None;
    };
    // Both sides are the same f64 written and read back by serde_json: exact comparison.
    (cmd.amount.to_bits() != ticket.amount.to_bits())
        .then(|| ("amount", cmd.amount.to_string(), ticket.amount.to_string()))
}
