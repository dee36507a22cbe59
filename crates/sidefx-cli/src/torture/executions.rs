//! Counting executions, not rows: after a scenario, the effect's own ledger says how often
//! each business key was really executed — the provider's `/_ledger` (succeeded charges per
//! reference) or the ticket effect's `artifacts/ledger.jsonl` (one line per ticket actually
//! created). Rows and files are capped at one by constraints; only this count can see a
//! second execution.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Deserialize;

use super::announcements::Announcements;
use sidefx_core::RunStatus;

use crate::load::{RunState, Submission};
use crate::stack::DataDir;
use crate::stack::effect::EffectMode;

/// What the effect's ledger says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Executions {
    /// Executions per business key.
    pub per_key: BTreeMap<String, u64>,
    /// Provider: requests beyond one per idempotency key (calls the key collapsed).
    pub repeats: Option<u64>,
}

/// One line of the ticket effect's ledger (the fields counted).
#[derive(Debug, Deserialize)]
struct TicketExecution {
    business_key: String,
}

/// Reads the ledger of `effect`: the provider's at `provider_url`, or the ticket ledger in
/// `dir`'s artifacts. `None` for a ticket stack whose worker keeps no ledger (no file).
pub async fn read(
    effect: EffectMode,
    dir: &DataDir,
    provider_url: Option<&str>,
) -> Result<Option<Executions>> {
    match (effect, provider_url) {
        (EffectMode::Provider, Some(url)) => {
            let ledger = crate::provider::ledger(url).await?;
            Ok(Some(Executions {
                repeats: Some(crate::provider::repeats(&ledger)),
                per_key: ledger.charges_per_reference,
            }))
        }
        (EffectMode::Provider, None) => anyhow::bail!("a provider stack without a provider URL"),
        (EffectMode::Ticket, _) => read_ticket_ledger(&dir.artifacts_dir().join("ledger.jsonl")),
    }
}

fn read_ticket_ledger(path: &std::path::Path) -> Result<Option<Executions>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut per_key = BTreeMap::new();
    // A worker killed mid-append can leave a torn last line: it is not a complete record.
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Ok(execution) = serde_json::from_str::<TicketExecution>(line) {
            *per_key.entry(execution.business_key).or_insert(0) += 1;
        }
    }
    Ok(Some(Executions {
        per_key,
        repeats: None,
    }))
}

/// The verdicts drawn from the executions, per run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionCounts {
    /// Most executions of one business key.
    pub charges_per_key: u64,
    /// Accepted runs whose business key was executed more than once.
    pub duplicated_runs: u64,
    /// Completed runs with no execution (counted in provider mode: a lost charge).
    pub lost_effects: usize,
    /// Dead-lettered runs that were executed anyway.
    pub executed_dead_letters: usize,
    /// One line per problem, for the report.
    pub problems: Vec<String>,
}

/// Judges each finished run by its business key's executions; a problem line also says how
/// often the run announced the execution on its event stream, when that was read.
pub fn judge(
    executions: &Executions,
    effect: EffectMode,
    submissions: &[Submission],
    states: &[Option<RunState>],
    announcements: Option<&Announcements>,
) -> ExecutionCounts {
    let mut counts = ExecutionCounts {
        charges_per_key: executions.per_key.values().copied().max().unwrap_or(0),
        ..ExecutionCounts::default()
    };
    for (index, (submission, state)) in submissions.iter().zip(states).enumerate() {
        let Some(state) = state.as_ref().filter(|s| s.status.is_final()) else {
            continue; // never accepted or never finished: counted as such elsewhere
        };
        let key = &submission.spec.business_key;
        let n = executions.per_key.get(key.as_str()).copied().unwrap_or(0);
        let problem = match (state.status, n) {
            (_, n) if n > 1 => {
                counts.duplicated_runs += 1;
                format!("business key {key} was executed {n} times")
            }
            (RunStatus::Completed, 0) if effect == EffectMode::Provider => {
                counts.lost_effects += 1;
                format!("business key {key} completed but the provider has no charge for it")
            }
            (RunStatus::DeadLettered, n) if n > 0 => {
                counts.executed_dead_letters += 1;
                format!("business key {key} was dead-lettered but executed {n} time(s)")
            }
            _ => continue,
        };
        if counts.problems.len() < 5 {
            let announced = announcements
                .and_then(|a| a.of(index))
                .map_or_else(String::new, |a| {
                    format!(" (side_effect.executing seen {} time(s))", a.total())
                });
            counts.problems.push(format!("{problem}{announced}"));
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_ledger_lines_count_per_business_key_and_a_torn_line_is_skipped() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("ledger.jsonl");
        assert_eq!(read_ticket_ledger(&path).unwrap(), None);
        let line = |key: &str| {
            format!(
                r#"{{"effect_id":"r:s:{key}","business_key":"{key}","run_id":"r","owner":"w","ts_ms":1}}"#
            )
        };
        let text = format!("{}\n{}\n{}\n{{\"effect_id", line("a"), line("b"), line("a"));
        std::fs::write(&path, text).unwrap();
        let executions = read_ticket_ledger(&path).unwrap().unwrap();
        assert_eq!(executions.per_key["a"], 2);
        assert_eq!(executions.per_key["b"], 1);
        assert_eq!(executions.repeats, None);
    }
}
