//! The run checks: every accepted run ends `completed` or `dead_lettered` (or `discarded`, a
//! dead letter an operator gave up on), a completed run
//! has its done effect, a dead-lettered run has its archived dead letter. A `rejected` run
//! (answered 503) was never accepted and is only counted.

use super::findings::{Findings, ViolationKind};
use super::{Ctx, VerifyError};
use crate::store::RunStatus;

/// What the run checks counted.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct RunCounts {
    pub(super) total: u64,
    pub(super) completed: u64,
    pub(super) dead_lettered: u64,
    /// Not final and changed within the settle time: still being worked on.
    pub(super) in_flight: u64,
    /// Refused with a 503 and not re-sent: never accepted, not expected to finish.
    pub(super) rejected: u64,
    /// Dead-lettered, then discarded by an operator.
    pub(super) discarded: u64,
    pub(super) dead_letters_archived: u64,
}

/// Runs every run check, reporting into `findings`.
///
/// A run that is not final yet is only a violation once it was accepted more than
/// `settle_after` ago: on a live system runs are in flight all the time, and a retry backoff
/// or a redelivery after a crash legitimately takes a while. The age counts from the run's
/// acceptance, not its last change, because each redrive and redelivery changes the run:
/// measured from the last change, a run stuck in a redrive loop never looked stuck. Verifying an idle system with a
/// short settle time asks "did everything finish?".
pub(super) async fn check(
    ctx: &Ctx<'_>,
    findings: &mut Findings,
) -> Result<RunCounts, VerifyError> {
    let mut counts = RunCounts::default();
    for (status, n) in ctx.store.run_status_counts().await? {
        counts.total += n;
        match status {
            RunStatus::Completed => counts.completed += n,
            RunStatus::DeadLettered => counts.dead_lettered += n,
            RunStatus::Queued | RunStatus::Running | RunStatus::Retrying => counts.in_flight += n,
            RunStatus::Rejected => counts.rejected += n,
            RunStatus::Discarded => counts.discarded += n,
        }
    }
    let settled_before = ctx.now_ms.saturating_sub(ctx.settle_after_ms());
    let limit = ctx.findings_limit();
    let old = ctx.store.old_unfinished_runs(settled_before, limit).await?;
    counts.in_flight = counts.in_flight.saturating_sub(old.total);
    findings.violations_not_fetched(old.total - old.first.len() as u64);
    for run in old.first {
        findings.violation(ViolationKind::RunNotFinished {
            run_id: run.run_id,
            status: run.status,
            age_ms: ctx.now_ms.saturating_sub(run.created_ms),
            idle_ms: ctx.now_ms.saturating_sub(run.updated_ms),
        });
    }
    let completed = ctx.store.completed_runs_without_done_effect(limit).await?;
    findings.violations_not_fetched(completed.total - completed.first.len() as u64);
    for run_id in completed.first {
        findings.violation(ViolationKind::CompletedWithoutEffect { run_id });
    }
    // The archiver runs in the worker, after the run is marked: give it the settle time too.
    let dead_letters = ctx
        .store
        .dead_lettered_runs_without_archive(settled_before, limit);
    let dead_letters = dead_letters.await?;
    findings.violations_not_fetched(dead_letters.total - dead_letters.first.len() as u64);
    for run_id in dead_letters.first {
        findings.violation(ViolationKind::DeadLetterNotArchived { run_id });
    }
    counts.dead_letters_archived = ctx.store.count_dead_letters().await?;
    Ok(counts)
}
