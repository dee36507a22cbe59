//! `sidefx verify`: asks a running stack's API for its exactly-once evidence
//! (`GET /debug/verify`) and turns the answer into a verdict and an exit code. `sidefx torture`
//! uses the same request after each scenario. With a provider (`--provider-url`, or a
//! provider-mode stack) the store is also compared with the provider's ledger (`provider`).

mod args;
mod provider;
#[cfg(test)]
mod provider_tests;

use std::process::ExitCode;

use anyhow::Result;
use sidefx_core::VerifyReport;

use crate::api_client::api_url;
use crate::stack::DataDir;
use crate::ui::Style;
pub use args::VerifyArgs;

/// Exit code when an invariant is violated.
const EXIT_VIOLATED: u8 = 1;
/// Exit code when the API could not be asked (unreachable, or it cannot verify).
const EXIT_UNREACHABLE: u8 = 2;

/// `sidefx verify`: 0 clean, 1 violated, 2 unreachable.
pub async fn run(dir: &DataDir, args: &VerifyArgs, style: Style) -> Result<ExitCode> {
    let api = api_url(args.api.as_deref(), dir)?;
    let provider_url = crate::charge_proof::provider_url(args.provider_url.as_deref(), dir)?;
    let client = args.admin.client(&api)?;
    let answer = match client.verify(args.settled).await {
        Ok(answer) => answer,
        Err(e) => {
            let (url, why) = (&e.request.url, &e.problem);
            eprintln!(
                "{} cannot verify through {url}: {why} (is the stack up? `sidefx status`, or pass --api)",
                style.err("error:")
            );
            return Ok(ExitCode::from(EXIT_UNREACHABLE));
        }
    };
    // `--json` prints the API's body as it is, plus the provider's findings.
    let mut raw = serde_json::to_value(&answer)?;
    let report = answer.report;
    let checked = match &provider_url {
        Some(url) => match provider::check(&client, url, &report, args.settled).await {
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
pub fn print_report(report: &VerifyReport, style: Style) {
    let c = &report.counts;
    let rejected = match c.runs_rejected {
        0 => String::new(),
        n => format!(", {n} rejected with a 503"),
    };
    let discarded = match c.runs_discarded {
        0 => String::new(),
        n => format!(", {n} discarded"),
    };
    let summary = format!(
        "{} runs ({} completed, {} dead-lettered, {} in flight{rejected}{discarded}), {} done effects, \
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
        let kind = v.kind.name();
        println!("  {} [{kind}] {}", style.err("violation"), v.message);
    }
    let unlisted = report.violations_total - report.violations.len() as u64;
    if unlisted > 0 {
        println!("  … and {unlisted} more violation(s) (see --json)");
    }
    for w in &report.warnings {
        let kind = w.kind.name();
        println!("  {} [{kind}] {}", style.warn("warning"), w.message);
    }
}

#[cfg(test)]
mod tests {
    use crate::api_client::VerifyResponse;

    #[test]
    fn reads_the_report_of_the_api() {
        let raw = serde_json::json!({
            "clean": false, "checked_at_ms": 1, "stale_after_ms": 0, "settle_after_ms": 0,
            "counts": {"done_effects": 2, "in_progress_effects": 0, "tickets": 1, "runs": 2,
                "runs_completed": 2, "runs_dead_lettered": 0, "runs_in_flight": 0,
                "runs_rejected": 0, "runs_discarded": 0, "dead_letters_archived": 0},
            "violations_total": 1,
            "violations": [{"kind": "missing_ticket", "effect_id": "r:s:k", "business_key": "k",
                "message": "effect r:s:k is done but ticket_k.json does not exist"}],
            "warnings_total": 0, "warnings": [],
            "error": "invariant_violated", "message": "1 invariant violation(s)"
        });
        let answer: VerifyResponse = serde_json::from_value(raw.clone()).unwrap();
        assert!(!answer.report.clean);
        assert_eq!(answer.report.counts.tickets, 1);
        assert_eq!(answer.report.violations[0].kind.name(), "missing_ticket");
        // What `--json` prints is what the API sent.
        assert_eq!(serde_json::to_value(&answer).unwrap(), raw);
    }
}
