//! The evidence: checks, over the store and the tickets directory, the invariants that
//! "no side effect is ever duplicated or lost" implies, and reports every violation.
//!
//! Read-only and safe on a live system: every query is short (the walk over the effects is
//! paged), and states that are normal for a moment — a claim whose lease just expired, a
//! run still retrying — only count once they outlast [`VerifyOptions`]' grace periods.

mod effects;
mod findings;
mod report;
mod runs;
mod tickets;

use std::time::Duration;

pub use findings::{Violation, ViolationKind, Warning, WarningKind};
pub use report::{VerifyCounts, VerifyReport};

use crate::artifacts::{ArtifactError, Artifacts};
use crate::messages::now_ms;
use crate::store::{Store, StoreError};
use findings::Findings;

/// How strict [`verify`] is about states that are transient on a live system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// An `in_progress` claim whose lease expired longer ago than this is reported (a
    /// redelivery should have taken it over or healed it by then). Default 60 s.
    pub stale_after: Duration,
    /// A run neither completed nor dead-lettered that was accepted longer ago than this is
    /// reported as not finished (its redrives and retries do not restart the clock); so is a
    /// dead-lettered run without its archived record. Default 60 s; use 0 to ask "has
    /// everything finished?" of an idle system. Keep it above the longest retry schedule.
    pub settle_after: Duration,
    /// At most this many violations (and as many warnings) are listed; all are counted.
    /// Default 1000.
    pub max_findings: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            stale_after: Duration::from_secs(60),
            settle_after: Duration::from_secs(60),
            max_findings: 1000,
        }
    }
}

/// Why a verification could not complete (a violation is not an error: it is in the report).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A store query failed.
    #[error("verify: {0}")]
    Store(#[from] StoreError),
    /// The tickets directory or a ticket could not be read.
    #[error("verify: {0}")]
    Artifacts(#[from] ArtifactError),
}

/// What the checks share.
#[derive(Debug)]
struct Ctx<'a> {
    store: &'a Store,
    artifacts: &'a Artifacts,
    opts: VerifyOptions,
    /// One clock reading for the whole run, so every age is measured from the same instant.
    now_ms: i64,
}

impl Ctx<'_> {
    fn stale_after_ms(&self) -> i64 {
        duration_ms(self.opts.stale_after)
    }

    fn settle_after_ms(&self) -> i64 {
        duration_ms(self.opts.settle_after)
    }

    /// Rows a bounded query returns: no more than the report lists anyway.
    fn findings_limit(&self) -> u32 {
        u32::try_from(self.opts.max_findings).unwrap_or(u32::MAX)
    }
}

/// Checks every invariant and returns what it found:
///
/// * every `done` effect has exactly one ticket, and the ticket's effect id, run, step,
///   business key and amount match it;
/// * every ticket has a `done` effect row;
/// * no `in_progress` claim's lease expired more than `stale_after` ago;
/// * no step of a run has more than one effect row;
/// * every run ends `completed` (with a done effect) or `dead_lettered` (with an archived
///   dead letter); one still running `settle_after` after it was accepted is reported.
///
/// Stray temp files in the tickets directory (a crashed ticket write) are warnings.
/// Memory is bounded by the number of tickets (their names) and `max_findings`, not by the
/// number of rows: effects are walked in pages, run checks fetch at most `max_findings`
/// rows and count the rest in SQLite.
pub async fn verify(
    store: &Store,
    artifacts: &Artifacts,
    opts: VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    let ctx = Ctx {
        store,
        artifacts,
        opts,
        now_ms: now_ms(),
    };
    let mut findings = Findings::new(opts.max_findings);
    let dir = tickets::scan(artifacts).await?;
    for name in &dir.temp_files {
        findings.warning(WarningKind::StrayTempFile { name: name.clone() });
    }
    for name in &dir.other_files {
        findings.warning(WarningKind::UnexpectedFile { name: name.clone() });
    }
    let effects = effects::check(&ctx, &dir, &mut findings).await?;
    let runs = runs::check(&ctx, &mut findings).await?;
    let counts = VerifyCounts {
        done_effects: effects.done,
        in_progress_effects: effects.in_progress,
        tickets: dir.keys.len() as u64,
        runs: runs.total,
        runs_completed: runs.completed,
        runs_dead_lettered: runs.dead_lettered,
        runs_in_flight: runs.in_flight,
        runs_rejected: runs.rejected,
        runs_discarded: runs.discarded,
        dead_letters_archived: runs.dead_letters_archived,
    };
    Ok(report(&ctx, counts, findings))
}

fn report(ctx: &Ctx<'_>, counts: VerifyCounts, findings: Findings) -> VerifyReport {
    VerifyReport {
        clean: findings.violations_total == 0,
        checked_at_ms: ctx.now_ms,
        stale_after_ms: ctx.stale_after_ms().unsigned_abs(),
        settle_after_ms: ctx.settle_after_ms().unsigned_abs(),
        counts,
        violations_total: findings.violations_total,
        violations: findings.violations,
        warnings_total: findings.warnings_total,
        warnings: findings.warnings,
    }
}

/// Whole milliseconds, saturating (a `Duration` can exceed `i64` ms).
fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
