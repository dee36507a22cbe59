//! Counting, from what the API said — each run's final status and effect rows
//! (`GET /runs/{id}`), the replies to re-sent requests, the `/debug/verify` counts — and from
//! what the effect's ledger says was really executed (see `executions`), and how often the
//! runs' event streams announced an execution (see `announcements`; informational).

use std::time::Duration;

use serde::Serialize;

use super::announcements::Announcements;
use super::executions::{self, Executions};
use crate::load::{End, RunState, Submission, expected_end, percentile};
use crate::stack::effect::EffectMode;
use sidefx_core::{RunId, RunStatus, VerifyReport};

/// One row of the torture table.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// Scenario label.
    pub name: String,
    /// The side effect: `ticket` or `provider`.
    pub effect: EffectMode,
    /// Worker processes.
    pub workers: u32,
    /// Runs submitted.
    pub submitted: usize,
    /// Runs the API accepted (a 200 to `POST /runs`).
    pub accepted: usize,
    /// Runs never accepted within the deadline (their last error is in `problems`).
    pub refused: usize,
    /// Runs completed.
    pub completed: usize,
    /// Runs dead-lettered.
    pub dead_lettered: usize,
    /// Side effects beyond one per run: runs whose business key the effect's ledger shows
    /// executed more than once, extra effect rows of a run, extra tickets, extra runs in the
    /// store, and re-sent requests answered with a new run.
    pub duplicates: u64,
    /// Most executions of one business key in the effect's ledger (1 when exactly once;
    /// `None`: the ticket worker keeps no ledger).
    pub charges_per_key: Option<u64>,
    /// Provider: requests beyond one per idempotency key, summed — calls the key collapsed
    /// (informational: these are the retries the key made safe).
    pub repeats: Option<u64>,
    /// Most `side_effect.executing` events seen for one effect on the runs' event streams
    /// (`None`: the streams could not be read). Informational, not a duplicate count: a
    /// worker that crashes between its claim and the effect has announced without executing.
    pub executing: Option<u64>,
    /// All `side_effect.executing` events seen, summed over the runs read.
    pub executing_events: u64,
    /// Finished runs whose event stream could not be read to `run.completed`/`run.dlq`.
    pub executing_unread: usize,
    /// Wall time of reading the event streams (ms).
    pub executing_read_ms: u64,
    /// Accepted runs that never finished, and (provider) completed runs with no charge.
    pub lost: usize,
    /// Runs that finished the other way than they asked (or dead-lettered with an effect).
    pub wrong_end: usize,
    /// Median submit→done time of completed runs (ms).
    pub p50_ms: Option<u64>,
    /// 99th percentile submit→done time of completed runs (ms).
    pub p99_ms: Option<u64>,
    /// Processes killed: worker crashes and SIGKILLs, plus DriftQ/API kills.
    pub kills: u32,
    /// Redrives of the accepted runs (`redrives` of `GET /runs/{id}`): commands a worker
    /// published again because their run stalled, lost by DriftQ or merely slow.
    pub redrives: u64,
    /// `/debug/verify` (no grace periods) found no violation.
    pub verify_clean: bool,
    /// Violations, refusals and stuck runs, a few of each, for the reader.
    pub problems: Vec<String>,
    /// Wall time of the scenario (ms).
    pub elapsed_ms: u64,
}

impl ScenarioResult {
    /// No duplicate, nothing lost or refused, every run ended as asked, verify clean.
    pub fn passed(&self) -> bool {
        self.duplicates == 0
            && self.lost == 0
            && self.refused == 0
            && self.wrong_end == 0
            && self.verify_clean
    }
}

/// What [`count`] reads.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// Scenario label.
    pub name: String,
    /// The side effect.
    pub effect: EffectMode,
    /// Worker processes.
    pub workers: u32,
    /// Every submission.
    pub submissions: &'a [Submission],
    /// The last state read of each submission's run (same order).
    pub states: &'a [Option<RunState>],
    /// The settled verify report, if the API answered.
    pub report: Option<&'a VerifyReport>,
    /// What the effect's ledger says was executed (`None`: no ledger to read).
    pub executions: Option<&'a Executions>,
    /// What the runs' event streams announced (`None`: not read).
    pub announcements: Option<&'a Announcements>,
    /// Processes killed.
    pub kills: u32,
    /// Wall time.
    pub elapsed: Duration,
}

/// At most this many lines of each sort of problem.
pub const PROBLEM_LINES: usize = 5;

/// Turns the answers into one table row.
pub fn count(inputs: Inputs<'_>) -> ScenarioResult {
    let mut problems = Vec::new();
    let mut tally = Tally::default();
    for (submission, state) in inputs.submissions.iter().zip(inputs.states) {
        tally.add(submission, state.as_ref(), &mut problems);
    }
    let accepted = inputs.submissions.len() - tally.refused;
    let (verify_clean, store_extra) =
        verify_counts(inputs.report, accepted, tally.completed, &mut problems);
    let judged = inputs.executions.map(|e| {
        executions::judge(
            e,
            inputs.effect,
            inputs.submissions,
            inputs.states,
            inputs.announcements,
        )
    });
    if let Some(judged) = &judged {
        tally.duplicates += judged.duplicated_runs;
        tally.lost += judged.lost_effects;
        tally.wrong_end += judged.executed_dead_letters;
        problems.extend(judged.problems.iter().cloned());
    }
    let announced = inputs
        .announcements
        .map(|a| a.summary(&mut problems))
        .unwrap_or_default();
    tally.latencies.sort();
    let ms = |d: Option<Duration>| d.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    ScenarioResult {
        name: inputs.name,
        effect: inputs.effect,
        workers: inputs.workers,
        submitted: inputs.submissions.len(),
        accepted,
        refused: tally.refused,
        completed: tally.completed,
        dead_lettered: tally.dead_lettered,
        duplicates: tally.duplicates + store_extra,
        charges_per_key: judged.as_ref().map(|j| j.charges_per_key),
        repeats: inputs.executions.and_then(|e| e.repeats),
        executing: announced.most,
        executing_events: announced.total,
        executing_unread: announced.unread,
        executing_read_ms: announced.read_ms,
        lost: tally.lost,
        wrong_end: tally.wrong_end,
        p50_ms: ms(percentile(&tally.latencies, 50.0)),
        p99_ms: ms(percentile(&tally.latencies, 99.0)),
        kills: inputs.kills,
        redrives: tally.redrives,
        verify_clean,
        problems,
        elapsed_ms: ms(Some(inputs.elapsed)).unwrap_or(0),
    }
}

/// The verify verdict, and what its counts show beyond the accepted runs (extra runs in the
/// store, tickets beyond one per completed run).
fn verify_counts(
    report: Option<&VerifyReport>,
    accepted: usize,
    completed: usize,
    problems: &mut Vec<String>,
) -> (bool, u64) {
    let Some(report) = report else {
        problems.push("/debug/verify did not answer".to_owned());
        return (false, 0);
    };
    let c = &report.counts;
    problems.extend(
        report
            .violations
            .iter()
            .take(PROBLEM_LINES)
            .map(|v| v.message.clone()),
    );
    let extra_runs = c.runs.saturating_sub(accepted as u64);
    let extra_tickets = c.tickets.saturating_sub(completed as u64);
    (report.clean, extra_runs + extra_tickets)
}

/// Adds a problem line, up to a bound (a broken run of 1000 runs must not print 1000 lines).
pub fn note(problems: &mut Vec<String>, line: String) {
    if problems.len() < PROBLEM_LINES * 3 {
        problems.push(line);
    }
}

/// Per-run counts.
#[derive(Debug, Default)]
struct Tally {
    refused: usize,
    completed: usize,
    dead_lettered: usize,
    duplicates: u64,
    lost: usize,
    wrong_end: usize,
    redrives: u64,
    latencies: Vec<Duration>,
}

impl Tally {
    fn add(&mut self, s: &Submission, state: Option<&RunState>, problems: &mut Vec<String>) {
        let Some(run_id) = &s.run_id else {
            self.refused += 1;
            let why = s.refused.as_deref().unwrap_or("no answer");
            note(
                problems,
                format!("{} was never accepted: {why}", s.spec.business_key),
            );
            return;
        };
        if s.replay_mismatch {
            self.duplicates += 1;
            note(
                problems,
                format!(
                    "re-sending {}'s request created a second run",
                    s.idempotency_key
                ),
            );
        }
        self.redrives += state.map_or(0, |st| u64::from(st.redrives));
        let Some(state) = state.filter(|st| st.status.is_final()) else {
            self.lost += 1;
            let status = state.map_or("unreadable", |st| st.status.as_str());
            note(
                problems,
                format!("run {run_id} never finished (last status {status})"),
            );
            return;
        };
        self.finished(s, run_id, state, problems);
    }

    /// Counts a run that reached a final status: its end, its effects, its latency.
    fn finished(
        &mut self,
        s: &Submission,
        run_id: &RunId,
        state: &RunState,
        problems: &mut Vec<String>,
    ) {
        let effects = state.effects.len();
        self.duplicates += effects.saturating_sub(1) as u64;
        let end = match state.status {
            RunStatus::Completed => End::Completed,
            _ => End::DeadLettered,
        };
        let effect_ok = match end {
            End::Completed => effects >= 1,
            End::DeadLettered => effects == 0,
        };
        let expected = expected_end(&s.spec);
        if end != expected || !effect_ok {
            self.wrong_end += 1;
            note(
                problems,
                format!(
                    "run {run_id} ended {} with {effects} effect(s), expected {expected:?}",
                    state.status.as_str(),
                ),
            );
        }
        match end {
            End::Completed => {
                self.completed += 1;
                let ms = (state.updated_ms - s.submitted_ms).max(0);
                self.latencies
                    .push(Duration::from_millis(ms.unsigned_abs()));
            }
            End::DeadLettered => self.dead_lettered += 1,
        }
    }
}
