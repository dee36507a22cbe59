//! What the verifier can find: violations (an invariant is broken) and warnings (worth a
//! look, but nothing was duplicated or lost), each typed with the ids involved and a
//! human-readable message.

use serde::{Deserialize, Serialize};

use crate::ids::{BusinessKey, EffectId, RunId, StepId};
use crate::store::RunStatus;

/// A broken invariant, tagged by `kind` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ViolationKind {
    /// A `done` effect has no ticket: recorded, but no proof the effect happened.
    MissingTicket {
        /// The effect.
        effect_id: EffectId,
        /// Names the ticket file that should exist.
        business_key: BusinessKey,
    },
    /// A ticket's content disagrees with the effect it belongs to.
    TicketMismatch {
        /// The effect the ticket was compared with.
        effect_id: EffectId,
        /// Names the ticket file.
        business_key: BusinessKey,
        /// The first field that differs (`effect_id`, `run_id`, `amount`, …).
        field: String,
        /// The value the effect's row implies.
        expected: String,
        /// The value in the ticket.
        found: String,
    },
    /// A ticket file is not valid ticket JSON.
    UnreadableTicket {
        /// Names the ticket file.
        business_key: BusinessKey,
        /// Why it could not be decoded.
        error: String,
    },
    /// A ticket exists for an effect that has no row: an effect nobody claimed.
    TicketWithoutRow {
        /// Names the ticket file.
        business_key: BusinessKey,
        /// The effect the ticket names.
        effect_id: EffectId,
    },
    /// The effect happened (its ticket exists) but its row stayed `in_progress` long after
    /// its lease expired: nothing is redelivering the command that would heal it.
    UnrecordedEffect {
        /// The effect.
        effect_id: EffectId,
        /// Names the ticket file.
        business_key: BusinessKey,
        /// How long ago the lease expired.
        expired_ms_ago: i64,
    },
    /// An `in_progress` claim without a ticket whose lease expired long ago: the effect may
    /// never happen, because nobody took the claim over.
    StaleClaim {
        /// The effect.
        effect_id: EffectId,
        /// The claim's holder (`None` for rows of the original starter).
        owner: Option<String>,
        /// How long ago the lease expired.
        expired_ms_ago: i64,
    },
    /// One step of one run has several effect rows, i.e. performed several effects.
    DuplicateStepEffects {
        /// The run.
        run_id: RunId,
        /// The step.
        step_id: StepId,
        /// Its effect rows.
        effect_ids: Vec<EffectId>,
    },
    /// An accepted run that is neither completed nor dead-lettered, and has not changed for
    /// longer than the settle time.
    RunNotFinished {
        /// The run.
        run_id: RunId,
        /// Where it is stuck.
        status: RunStatus,
        /// How long since it was accepted: what the settle time is measured against.
        age_ms: i64,
        /// How long since it last changed (a redrive or redelivery changes it).
        idle_ms: i64,
    },
    /// A run is completed but has no `done` effect.
    CompletedWithoutEffect {
        /// The run.
        run_id: RunId,
    },
    /// A run is dead-lettered but its dead-letter record never reached the archive.
    DeadLetterNotArchived {
        /// The run.
        run_id: RunId,
    },
}

impl ViolationKind {
    /// The `kind` tag of the JSON (`missing_ticket`, …), for a one-line listing.
    pub fn name(&self) -> &'static str {
        match self {
            Self::MissingTicket { .. } => "missing_ticket",
            Self::TicketMismatch { .. } => "ticket_mismatch",
            Self::UnreadableTicket { .. } => "unreadable_ticket",
            Self::TicketWithoutRow { .. } => "ticket_without_row",
            Self::UnrecordedEffect { .. } => "unrecorded_effect",
            Self::StaleClaim { .. } => "stale_claim",
            Self::DuplicateStepEffects { .. } => "duplicate_step_effects",
            Self::RunNotFinished { .. } => "run_not_finished",
            Self::CompletedWithoutEffect { .. } => "completed_without_effect",
            Self::DeadLetterNotArchived { .. } => "dead_letter_not_archived",
        }
    }
}

/// A violation and its human-readable explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Violation {
    /// What is broken, with the ids involved.
    #[serde(flatten)]
    pub kind: ViolationKind,
    /// One sentence for a person.
    pub message: String,
}

impl From<ViolationKind> for Violation {
    fn from(kind: ViolationKind) -> Self {
        let message = violation_message(&kind);
        Violation { kind, message }
    }
}

fn violation_message(kind: &ViolationKind) -> String {
    use ViolationKind as V;
    match kind {
        V::StaleClaim { .. }
        | V::DuplicateStepEffects { .. }
        | V::RunNotFinished { .. }
        | V::CompletedWithoutEffect { .. }
        | V::DeadLetterNotArchived { .. } => claim_or_run_message(kind),
        _ => ticket_message(kind),
    }
}

/// Messages of the violations about a ticket file.
fn ticket_message(kind: &ViolationKind) -> String {
    use ViolationKind as V;
    match kind {
        V::MissingTicket {
            effect_id,
            business_key,
        } => format!("effect {effect_id} is done but ticket_{business_key}.json does not exist"),
        V::TicketMismatch {
            effect_id,
            business_key,
            field,
            expected,
            found,
        } => format!(
            "ticket_{business_key}.json does not match effect {effect_id}: \
             {field} is {found}, expected {expected}"
        ),
        V::UnreadableTicket {
            business_key,
            error,
        } => {
            format!("ticket_{business_key}.json is not a valid ticket: {error}")
        }
        V::TicketWithoutRow {
            business_key,
            effect_id,
        } => format!(
            "ticket_{business_key}.json names effect {effect_id}, which has no side-effect row"
        ),
        V::UnrecordedEffect {
            effect_id,
            expired_ms_ago,
            ..
        } => format!(
            "effect {effect_id} has its ticket but is still in_progress; its lease expired \
             {expired_ms_ago} ms ago and no redelivery healed it"
        ),
        _ => unreachable!("violation_message dispatches by variant"),
    }
}

/// Messages of the violations about claims, steps and runs.
fn claim_or_run_message(kind: &ViolationKind) -> String {
    use ViolationKind as V;
    match kind {
        V::StaleClaim {
            effect_id,
            owner,
            expired_ms_ago,
        } => format!(
            "effect {effect_id} is in_progress without a ticket (owner {}); its lease expired \
             {expired_ms_ago} ms ago and nobody took it over",
            owner.as_deref().unwrap_or("none")
        ),
        V::DuplicateStepEffects {
            run_id,
            step_id,
            effect_ids,
        } => format!(
            "run {run_id} step {step_id} has {} effect rows: {}",
            effect_ids.len(),
            join(effect_ids)
        ),
        V::RunNotFinished {
            run_id,
            status,
            age_ms,
            idle_ms,
        } => format!(
            "run {run_id} is still {} {age_ms} ms after it was accepted (last change {idle_ms} \
             ms ago)",
            status.as_str()
        ),
        V::CompletedWithoutEffect { run_id } => {
            format!("run {run_id} is completed but has no done side effect")
        }
        V::DeadLetterNotArchived { run_id } => {
            format!("run {run_id} is dead_lettered but no dead-letter record is archived")
        }
        _ => unreachable!("violation_message dispatches by variant"),
    }
}

/// Something worth a look that breaks no invariant, tagged by `kind` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WarningKind {
    /// A temp file left in the tickets directory by a ticket write that crashed before its
    /// cleanup. No ticket is half-written because of it; it is safe to delete.
    StrayTempFile {
        /// The file name.
        name: String,
    },
    /// A file in the tickets directory that is neither a ticket nor a temp file.
    UnexpectedFile {
        /// The file name.
        name: String,
    },
    /// A done effect whose business key's ticket was written by another effect: a client
    /// reused the business key for a new run, and the create-only write kept it to one
    /// ticket (one charge) for both.
    SharedTicket {
        /// The effect without a ticket of its own.
        effect_id: EffectId,
        /// The shared key.
        business_key: BusinessKey,
        /// The effect that wrote the ticket.
        ticket_effect_id: EffectId,
    },
}

impl WarningKind {
    /// The `kind` tag of the JSON (`stray_temp_file`, …), for a one-line listing.
    pub fn name(&self) -> &'static str {
        match self {
            Self::StrayTempFile { .. } => "stray_temp_file",
            Self::UnexpectedFile { .. } => "unexpected_file",
            Self::SharedTicket { .. } => "shared_ticket",
        }
    }
}

/// A warning and its human-readable explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Warning {
    /// What was found.
    #[serde(flatten)]
    pub kind: WarningKind,
    /// One sentence for a person.
    pub message: String,
}

impl From<WarningKind> for Warning {
    fn from(kind: WarningKind) -> Self {
        let message = match &kind {
            WarningKind::StrayTempFile { name } => {
                format!("stray temp file {name} in the tickets directory (a crashed ticket write)")
            }
            WarningKind::UnexpectedFile { name } => {
                format!("{name} in the tickets directory is not a ticket")
            }
            WarningKind::SharedTicket {
                effect_id,
                business_key,
                ticket_effect_id,
            } => format!(
                "effect {effect_id} shares ticket_{business_key}.json with effect \
                 {ticket_effect_id} (business key reused by another run)"
            ),
        };
        Warning { kind, message }
    }
}

fn join(ids: &[EffectId]) -> String {
    ids.iter()
        .map(EffectId::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Collects findings, keeping at most `cap` of each sort but counting all of them, so a
/// badly broken store with 100k bad rows still yields a report of bounded size.
#[derive(Debug)]
pub(super) struct Findings {
    cap: usize,
    pub(super) violations: Vec<Violation>,
    pub(super) warnings: Vec<Warning>,
    pub(super) violations_total: u64,
    pub(super) warnings_total: u64,
}

impl Findings {
    pub(super) fn new(cap: usize) -> Self {
        Findings {
            cap,
            violations: Vec::new(),
            warnings: Vec::new(),
            violations_total: 0,
            warnings_total: 0,
        }
    }

    pub(super) fn violation(&mut self, kind: ViolationKind) {
        self.violations_total += 1;
        if self.violations.len() < self.cap {
            self.violations.push(kind.into());
        }
    }

    /// Counts `n` violations a bounded query matched but did not return.
    pub(super) fn violations_not_fetched(&mut self, n: u64) {
        self.violations_total += n;
    }

    pub(super) fn warning(&mut self, kind: WarningKind) {
        self.warnings_total += 1;
        if self.warnings.len() < self.cap {
            self.warnings.push(kind.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `name()` is the tag serde writes, for every variant: a reader printing the name and
    /// one parsing the JSON agree.
    #[test]
    fn each_name_is_the_json_kind() {
        let run = RunId::parse("r").unwrap();
        let key = BusinessKey::parse("k").unwrap();
        let effect = EffectId::new(&run, &StepId::charge_card(), &key);
        let (e, k, t) = (|| effect.clone(), || key.clone(), String::new);
        let violations = [
            ViolationKind::MissingTicket {
                effect_id: e(),
                business_key: k(),
            },
            ViolationKind::TicketMismatch {
                effect_id: e(),
                business_key: k(),
                field: t(),
                expected: t(),
                found: t(),
            },
            ViolationKind::UnreadableTicket {
                business_key: k(),
                error: t(),
            },
            ViolationKind::TicketWithoutRow {
                business_key: k(),
                effect_id: e(),
            },
            ViolationKind::UnrecordedEffect {
                effect_id: e(),
                business_key: k(),
                expired_ms_ago: 1,
            },
            ViolationKind::StaleClaim {
                effect_id: e(),
                owner: None,
                expired_ms_ago: 1,
            },
            ViolationKind::DuplicateStepEffects {
                run_id: run.clone(),
                step_id: StepId::charge_card(),
                effect_ids: vec![e()],
            },
            ViolationKind::RunNotFinished {
                run_id: run.clone(),
                status: RunStatus::Running,
                age_ms: 1,
                idle_ms: 1,
            },
            ViolationKind::CompletedWithoutEffect {
                run_id: run.clone(),
            },
            ViolationKind::DeadLetterNotArchived { run_id: run },
        ];
        for kind in violations {
            assert_eq!(serde_json::to_value(&kind).unwrap()["kind"], kind.name());
        }
        let warnings = [
            WarningKind::StrayTempFile { name: t() },
            WarningKind::UnexpectedFile { name: t() },
            WarningKind::SharedTicket {
                effect_id: e(),
                business_key: k(),
                ticket_effect_id: e(),
            },
        ];
        for kind in warnings {
            assert_eq!(serde_json::to_value(&kind).unwrap()["kind"], kind.name());
        }
    }
}
