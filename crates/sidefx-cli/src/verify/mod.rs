//! `sidefx verify`: asks a running stack's API for its exactly-once evidence
//! (`GET /debug/verify`) and turns the answer into a verdict and an exit code. `sidefx torture`
//! uses the same request after each scenario. With a provider (`--provider-url`, or a
//! provider-mode stack) the store is also compared with the provider's ledger (`provider`).

mod args;
mod provider;
#[cfg(test)]
mod provider_tests;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::api_client::api_url;
use crate::stack::DataDir;
use crate::ui::Style;
pub use args::VerifyArgs;

/// Exit code when an invariant is violated.
const EXIT_VIOLATED: u8 = 1;
/// Exit code when the API could not be asked (unreachable, or it cannot verify).
const EXIT_UNREACHABLE: u8 = 2;

/// The report of `/debug/verify` (the fields this CLI reads; the rest is kept for `--json`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Report {
    /// No invariant is violated.
    pub clean: bool,
    /// What was looked at.
    pub counts: Counts,
    /// Violations found (more than `violations` lists when there are very many).
    pub violations_total: u64,
    /// The listed violations.
    #[serde(default)]
    pub violations: Vec<Finding>,
    /// Warnings found.
    #[serde(default)]
    pub warnings_total: u64,
    /// The listed warnings.
    #[serde(default)]
    pub warnings: Vec<Finding>,
}

/// The counts of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct Counts {
    /// Side-effect rows `done`.
    pub done_effects: u64,
    /// Side-effect rows `in_progress`.
    pub in_progress_effects: u64,
    /// Ticket files.
    pub tickets: u64,
    /// Runs the API accepted.
    pub runs: u64,
    /// Runs completed.
    pub runs_completed: u64,
    /// Runs dead-lettered.
    pub runs_dead_lettered: u64,
    /// Runs not finished yet, still within the settle time.
    pub runs_in_flight: u64,
    /// Runs refused with a 503 and not re-sent (absent from older servers' reports).
    #[serde(default)]
    pub runs_rejected: u64,
    /// Records in the dead-letter archive.
    pub dead_letters_archived: u64,
}

/// A violation or a warning: its `kind` and its sentence (the ids involved are in the JSON).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Finding {
    /// `missing_ticket`, `duplicate_step_effects`, `run_not_finished`, …
    pub kind: String,
    /// One sentence for a person.
    pub message: String,
}

/// Why no report could be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No connection, a timeout, or an answer that is not a report (e.g. an API without the
    /// route, or a store error).
    #[error("cannot verify through {url}: {why}")]
    Unreachable {
        /// The URL asked.
        url: String,
        /// What went wrong, in a few words.
        why: String,
    },
}

/// `GET {api}/debug/verify`; with `settled`, both grace periods are 0 (ask an idle stack
/// whether everything finished). Returns the report and its raw JSON. 200 and 409 both carry
/// a report; anything else is [`FetchError::Unreachable`].
pub async fn fetch(
    client: &reqwest::Client,
    api: &str,
    settled: bool,
) -> Result<(Report, serde_json::Value), FetchError> {
    let query = if settled {
        "?stale_after_ms=0&settle_after_ms=0"
    } else {
        ""
    };
    let url = format!("{api}/debug/verify{query}");
    let unreachable = |why: String| FetchError::Unreachable {
        url: url.clone(),
        why,
    };
    let response = client
        .get(&url)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .map_err(|e| unreachable(crate::load::describe(&e)))?;
    let status = response.status();
    if !(status.is_success() || status == reqwest::StatusCode::CONFLICT) {
        let body = response.text().await.unwrap_or_default();
        return Err(unreachable(format!(
            "HTTP {} {}",
            status.as_u16(),
            body.trim()
        )));
    }
    let raw: serde_json::Value = response
        .json()
        .await
        .map_err(|e| unreachable(format!("unreadable body: {e}")))?;
    let report = serde_json::from_value(raw.clone())
        .map_err(|e| unreachable(format!("not a verify report: {e}")))?;
    Ok((report, raw))
}

/// `sidefx verify`: 0 clean, 1 violated, 2 unreachable.
pub async fn run(dir: &DataDir, args: &VerifyArgs, style: Style) -> Result<ExitCode> {
    let api = api_url(args.api.as_deref(), dir)?;
    let provider_url = crate::charge_proof::provider_url(args.provider_url.as_deref(), dir)?;
    let client = args.admin.client()?;
    let (report, raw) = match fetch(&client, &api, args.settled).await {
        Ok(answer) => answer,
        Err(e) => {
            eprintln!(
                "{} {e} (is the stack up? `sidefx status`, or pass --api)",
                style.err("error:")
            );
            return Ok(ExitCode::from(EXIT_UNREACHABLE));
        }
    };
    let mut raw = raw;
    let checked = match &provider_url {
        Some(url) => match provider::check(&client, &api, url, &report, args.settled).await {
            Ok(checked) => Some(checked),
            Err(e) => {
                eprintln!("{} cannot check the provider: {e:#}", style.err("error:"));
                return Ok(ExitCode::from(EXIT_UNREACHABLE));
            }
        },
        None => None,
    };
    let provider_clean = checked.as_ref().is_none_or(|c| c.violations.is_empty());
    if args.json {
        // `clean` is the verdict of both checks; the provider's findings are under `provider`.
        if let (Some(checked), Some(object)) = (&checked, raw.as_object_mut()) {
            object.insert("provider".to_owned(), serde_json::to_value(checked)?);
            object.insert("clean".to_owned(), (report.clean && provider_clean).into());
        }
        println!("{}", serde_json::to_string_pretty(&raw)?);
    } else {
        print_report(&report, style);
        if let Some(checked) = &checked {
            print_provider(checked, style);
        }
    }
    Ok(if report.clean && provider_clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_VIOLATED)
    })
}

/// The provider check's verdict, then one line per violation and warning.
fn print_provider(checked: &provider::ProviderReport, style: Style) {
    let summary = format!(
        "{} charges, {} done effects ({})",
        checked.charges, checked.done_effects, checked.url
    );
    if checked.violations.is_empty() {
        println!(
            "{} provider: clean — {summary}: each done effect has exactly its receipt's charge",
            style.ok("✔")
        );
    } else {
        println!(
            "{} provider: {} violation(s) — {summary}",
            style.err("✘"),
            checked.violations.len()
        );
    }
    for v in &checked.violations {
        println!("  {} [{}] {}", style.err("violation"), v.kind, v.message);
    }
    for w in &checked.warnings {
        println!("  {} [{}] {}", style.warn("warning"), w.kind, w.message);
    }
}

/// The verdict, the counts, then one line per violation and warning.
pub fn print_report(report: &Report, style: Style) {
    let c = &report.counts;
    let rejected = match c.runs_rejected {
        0 => String::new(),
        n => format!(", {n} rejected with a 503"),
    };
    let summary = format!(
        "{} runs ({} completed, {} dead-lettered, {} in flight{rejected}), {} done effects, \
         {} tickets, {} dead letters archived",
        c.runs,
        c.runs_completed,
        c.runs_dead_lettered,
        c.runs_in_flight,
        c.done_effects,
        c.tickets,
        c.dead_letters_archived
    );
    if report.clean {
        println!("{} verify: clean — {summary}", style.ok("✔"));
    } else {
        println!(
            "{} verify: {} violation(s) — {summary}",
            style.err("✘"),
            report.violations_total
        );
    }
    for v in &report.violations {
        println!("  {} [{}] {}", style.err("violation"), v.kind, v.message);
    }
    let unlisted = report.violations_total - report.violations.len() as u64;
    if unlisted > 0 {
        println!("  … and {unlisted} more violation(s) (see --json)");
    }
    for w in &report.warnings {
        println!("  {} [{}] {}", style.warn("warning"), w.kind, w.message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_report_of_the_api() {
        let raw = serde_json::json!({
            "clean": false, "checked_at_ms": 1, "stale_after_ms": 0, "settle_after_ms": 0,
            "counts": {"done_effects": 2, "in_progress_effects": 0, "tickets": 1, "runs": 2,
                "runs_completed": 2, "runs_dead_lettered": 0, "runs_in_flight": 0,
                "dead_letters_archived": 0},
            "violations_total": 1,
            "violations": [{"kind": "missing_ticket", "effect_id": "r:s:k", "business_key": "k",
                "message": "effect r:s:k is done but ticket_k.json does not exist"}],
            "warnings_total": 0, "warnings": [],
            "error": "invariant_violated", "message": "1 invariant violation(s)"
        });
        let report: Report = serde_json::from_value(raw).unwrap();
        assert!(!report.clean);
        assert_eq!(report.counts.tickets, 1);
        assert_eq!(report.violations[0].kind, "missing_ticket");
    }
}
