//! The verifier's answer: counts, violations, warnings, and a short human verdict.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::findings::{Violation, Warning};

/// What was looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyCounts {
    /// Side-effect rows in `done`.
    pub done_effects: u64,
    /// Side-effect rows in `in_progress` (live claims and stale ones).
    pub in_progress_effects: u64,
    /// `ticket_<key>.json` files in the tickets directory.
    pub tickets: u64,
    /// Registered runs (rows of `runs`), rejected ones included.
    pub runs: u64,
    /// Runs `completed`.
    pub runs_completed: u64,
    /// Runs `dead_lettered`.
    pub runs_dead_lettered: u64,
    /// Runs not final yet that changed within the settle time.
    pub runs_in_flight: u64,
    /// Runs whose first command the broker refused while the client was answered 503: never
    /// accepted, so not expected to finish (until the client re-sends them).
    pub runs_rejected: u64,
    /// Runs dead-lettered, then discarded by an operator (`POST /runs/{id}/discard`).
    #[serde(default)]
    pub runs_discarded: u64,
    /// Records in the dead-letter archive.
    pub dead_letters_archived: u64,
}

/// The result of [`super::verify`]. Serialised as the body of `GET /debug/verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyReport {
    /// `true` when no invariant is violated (warnings do not count).
    pub clean: bool,
    /// When the verification started (ms since the epoch).
    pub checked_at_ms: i64,
    /// The `stale_after` used, in ms.
    pub stale_after_ms: u64,
    /// The `settle_after` used, in ms.
    pub settle_after_ms: u64,
    /// What was looked at.
    pub counts: VerifyCounts,
    /// How many violations were found (`violations` lists at most `max_findings`).
    pub violations_total: u64,
    /// The broken invariants, with the ids involved.
    pub violations: Vec<Violation>,
    /// How many warnings were found (`warnings` lists at most `max_findings`).
    pub warnings_total: u64,
    /// Findings that break no invariant (e.g. a stray temp file).
    pub warnings: Vec<Warning>,
}

impl VerifyReport {
    /// True when no invariant is violated.
    pub fn is_clean(&self) -> bool {
        self.violations_total == 0
    }
}

/// One line when clean (`verify: clean — 200 done effects, 200 tickets, 200 runs completed,
/// 0 dead-lettered`), otherwise a headline and one line per violation; warnings follow.
impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        let summary = format!(
            "{} done effects, {} tickets, {} runs completed, {} dead-lettered",
            c.done_effects, c.tickets, c.runs_completed, c.runs_dead_lettered
        );
        if self.is_clean() {
            write!(f, "verify: clean — {summary}")?;
        } else {
            write!(
                f,
                "verify: {} violation(s) — {summary}",
                self.violations_total
            )?;
        }
        if c.runs_in_flight > 0 || c.in_progress_effects > 0 {
            write!(
                f,
                " ({} runs in flight, {} effects in progress)",
                c.runs_in_flight, c.in_progress_effects
            )?;
        }
        for v in &self.violations {
            write!(f, "\n  violation: {}", v.message)?;
        }
        let unlisted = self.violations_total - self.violations.len() as u64;
        if unlisted > 0 {
            write!(f, "\n  … and {unlisted} more violation(s)")?;
        }
        for w in &self.warnings {
            write!(f, "\n  warning: {}", w.message)?;
        }
        Ok(())
    }
}
