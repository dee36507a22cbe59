//! What one step decided, as a type. The consume loop matches on it to decide whether the
//! command is acknowledged; nothing else decides acks.

use std::time::Duration;

/// The result of handling one command. Every variant except `LeaveForRedelivery` means
/// "all follow-ups (events, retry scheduling, dead-lettering) are durably done: ack it".
/// A step that could not finish returns `Err` instead, and the command is not acked, so
/// DriftQ redelivers it and the (idempotent) step runs again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// This step claimed the effect, performed it and marked it done.
    Done,
    /// The effect was already done (a redelivery or a re-sent command): skipped, run finished.
    AlreadyDone,
    /// A previous owner performed the effect but died before marking it done; the artifact
    /// proves it, so the row was marked done without repeating the effect.
    Healed,
    /// A previous owner's claim expired with no artifact; this step took the claim over
    /// (fenced) and performed the effect.
    TakenOver,
    /// The step failed before the effect; the next attempt is scheduled in the retry outbox
    /// and will be published after this backoff.
    RetryAfter(Duration),
    /// The step failed on its last attempt; a DLQ record was published.
    DeadLetter {
        /// Why the last attempt failed.
        error: String,
    },
    /// The message is not a command we can decode. It can never succeed, so it is acked
    /// (with an error log) rather than redelivered forever.
    Undecodable {
        /// The decode error.
        error: String,
    },
    /// The command broke a rule or named an unknown run, so it was not run: a DLQ record
    /// with the reason was published (see `intake`).
    Refused {
        /// Why it was refused.
        reason: String,
    },
    /// Someone else holds a live claim on the effect (another worker, or another task of
    /// this process). Do not ack: DriftQ redelivers after the lease and the next delivery
    /// finds the effect done, healable, or expired.
    LeaveForRedelivery,
}

impl StepOutcome {
    /// Whether the consume loop acknowledges the command after this outcome.
    pub fn acks(&self) -> bool {
        !matches!(self, StepOutcome::LeaveForRedelivery)
    }

    /// Short stable name for log lines.
    pub fn name(&self) -> &'static str {
        match self {
            StepOutcome::Done => "done",
            StepOutcome::AlreadyDone => "already_done",
            StepOutcome::Healed => "healed",
            StepOutcome::TakenOver => "taken_over",
            StepOutcome::RetryAfter(_) => "retry_scheduled",
            StepOutcome::DeadLetter { .. } => "dead_lettered",
            StepOutcome::Undecodable { .. } => "undecodable",
            StepOutcome::Refused { .. } => "refused",
            StepOutcome::LeaveForRedelivery => "left_for_redelivery",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_leave_for_redelivery_skips_the_ack() {
        let acked = [
            StepOutcome::Done,
            StepOutcome::AlreadyDone,
            StepOutcome::Healed,
            StepOutcome::TakenOver,
            StepOutcome::RetryAfter(Duration::from_secs(1)),
            StepOutcome::DeadLetter {
                error: "boom".into(),
            },
            StepOutcome::Undecodable {
                error: "bad json".into(),
            },
            StepOutcome::Refused {
                reason: "amount".into(),
            },
        ];
        for outcome in acked {
            assert!(outcome.acks(), "{outcome:?}");
        }
        assert!(!StepOutcome::LeaveForRedelivery.acks());
    }

    #[test]
    fn names_are_distinct() {
        let names = [
            StepOutcome::Done.name(),
            StepOutcome::AlreadyDone.name(),
            StepOutcome::Healed.name(),
            StepOutcome::TakenOver.name(),
            StepOutcome::RetryAfter(Duration::ZERO).name(),
            StepOutcome::DeadLetter {
                error: String::new(),
            }
            .name(),
            StepOutcome::Undecodable {
                error: String::new(),
            }
            .name(),
            StepOutcome::Refused {
                reason: String::new(),
            }
            .name(),
            StepOutcome::LeaveForRedelivery.name(),
        ];
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }
}
