//! What the stack commands print: the "stack is up" message and the log tails that explain a
//! failed start (`sidefx status` is in `status.rs`).

use std::path::Path;

use super::state::StackState;
use super::{DataDir, Service};
use crate::ui::Style;

/// The "stack is up" message: where to look, what to run next.
pub fn print_ready(dir: &DataDir, state: &StackState, style: Style) {
    let api = &state.api_url;
    println!(
        "\n{} Stack is up ({}). Open:",
        style.ok("✔"),
        format!("{:?}", state.mode).to_lowercase()
    );
    println!("  - API docs:      {api}/docs");
    println!("  - API health:    {api}/healthz");
    println!("  - DriftQ health: {}/v1/healthz", state.driftq_url);
    if let Some(provider) = &state.provider {
        println!("  - Provider:      {}/_ledger (every charge)", provider.url);
    }
    let data_dir = data_dir_flag(dir);
    println!("\nNext:");
    println!("  sidefx{data_dir} demo run     # retry demo (safe)");
    println!("  sidefx{data_dir} demo crash   # crash demo (redelivery + exactly-once)");
    println!("  sidefx{data_dir} logs worker -f");
    println!("  sidefx{data_dir} down");
}

/// ` --data-dir D` when `dir` is not the default one, so printed commands work when pasted.
fn data_dir_flag(dir: &DataDir) -> String {
    match DataDir::new(Path::new(".sidefx")) {
        Ok(default) if default == *dir => String::new(),
        _ => format!(" --data-dir {}", dir.root().display()),
    }
}

/// The last lines of every log, so a failed start explains itself.
pub fn print_log_tails(dir: &DataDir, style: Style) {
    let logs = Service::ALL
        .iter()
        .map(|s| dir.log_file(*s))
        .chain([dir.supervisor_log()]);
    for path in logs {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let lines: Vec<_> = text.lines().collect();
        if lines.is_empty() {
            continue;
        }
        eprintln!(
            "{}",
            style.bold(&format!("── last lines of {}", path.display()))
        );
        for line in &lines[lines.len().saturating_sub(15)..] {
            eprintln!("  {line}");
        }
    }
}
