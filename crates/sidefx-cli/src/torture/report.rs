//! The torture table (or its JSON): one row per scenario, then the problems of any row that
//! failed.

use serde::Serialize;

use super::evidence::ScenarioResult;
use crate::ui::Style;

/// The whole result, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct TortureReport {
    /// Every scenario passed.
    pub passed: bool,
    /// One entry per scenario, in the order they ran.
    pub scenarios: Vec<ScenarioResult>,
    /// Where the stacks' data and logs are (kept when something failed or `--dir` was given).
    pub dir: Option<String>,
}

/// Columns: `charges/key` is the most executions of one business key in the effect's ledger
/// (1 = exactly once), `repeats` the requests its idempotency keys collapsed, `executing` the
/// most `side_effect.executing` events of one effect (an announcement, not an execution).
const HEADER: [&str; 15] = [
    "scenario",
    "workers",
    "accepted",
    "completed",
    "dead-lettered",
    "duplicates",
    "charges/key",
    "repeats",
    "executing",
    "lost",
    "p50",
    "p99",
    "kills",
    "redrives",
    "verify",
];

/// Prints the table with aligned columns.
pub fn print_table(report: &TortureReport, style: Style) {
    let rows: Vec<[String; 15]> = report.scenarios.iter().map(row).collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        padded.join("  ")
    };
    println!("{}", style.bold(&line(&HEADER.map(str::to_owned))));
    for (row, result) in rows.iter().zip(&report.scenarios) {
        let text = line(row);
        println!(
            "{}",
            if result.passed() {
                text
            } else {
                style.err(&text)
            }
        );
    }
    for result in report
        .scenarios
        .iter()
        .filter(|r| !r.passed() || r.refused > 0)
    {
        println!("\n{} {}", style.err("✘"), result.name);
        for problem in &result.problems {
            println!("  - {problem}");
        }
    }
    if report.passed {
        println!(
            "\n{} no duplicate, nothing lost, verify clean in every scenario",
            style.ok("✔")
        );
    }
    if let Some(dir) = &report.dir {
        println!("{}", style.dim(&format!("data and logs: {dir}")));
    }
}

/// A count, or `-` where there is nothing to count (no ledger, or the ticket effect's repeats).
fn count(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

/// The `executing` cell: the most announcements of one effect, and how many finished runs'
/// streams were not read to their end (`-`: none could be read).
fn executing(r: &ScenarioResult) -> String {
    let most = count(r.executing);
    match r.executing_unread {
        0 => most,
        n => format!("{most} ({n} unread)"),
    }
}

fn row(r: &ScenarioResult) -> [String; 15] {
    let ms = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms"));
    let verify = if r.verify_clean {
        "clean".to_owned()
    } else {
        "VIOLATED".to_owned()
    };
    let mut lost = r.lost.to_string();
    if r.wrong_end > 0 || r.refused > 0 {
        lost = format!("{lost} (+{} wrong, {} refused)", r.wrong_end, r.refused);
    }
    [
        r.name.clone(),
        r.workers.to_string(),
        r.accepted.to_string(),
        r.completed.to_string(),
        r.dead_lettered.to_string(),
        r.duplicates.to_string(),
        count(r.charges_per_key),
        count(r.repeats),
        executing(r),
        lost,
        ms(r.p50_ms),
        ms(r.p99_ms),
        r.kills.to_string(),
        r.redrives.to_string(),
        verify,
    ]
}
