//! What the stack commands print: the "stack is up" message, `sidefx status`, and the log
//! tails that explain a failed start.

use std::path::Path;

use anyhow::Result;

use super::state::StackState;
use super::{DataDir, Service, health_checks};
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

/// `sidefx status`.
pub async fn status(dir: &DataDir, style: Style) -> Result<()> {
    let Some(state) = StackState::load(dir)? else {
        println!("No stack recorded in {}.", dir.root().display());
        return Ok(());
    };
    println!(
        "{} stack recorded in {}",
        format!("{:?}", state.mode).to_lowercase(),
        dir.root().display()
    );
    if let Some(local) = &state.local {
        let records = [("supervisor", local.supervisor.as_ref())]
            .into_iter()
            .chain(
                state
                    .services()
                    .into_iter()
                    .map(|s| (s.name(), local.service(s))),
            );
        for (name, record) in records {
            let line = match record {
                Some(r) if r.is_ours() => style.ok(&format!("running (pid {})", r.pid)),
                Some(r) => style.err(&format!("not running (was pid {})", r.pid)),
                None => style.warn("not started"),
            };
            println!("  {name:<11} {line}");
        }
        println!("  worker restarts: {}", local.worker_restarts);
    }
    println!("  effect      {}", state.effect.name());
    let client = crate::health::probe_client()?;
    for check in health_checks(&state) {
        let line = match crate::health::probe(&client, &check.url).await {
            Ok(()) => style.ok("healthy"),
            Err(why) => style.err(&why),
        };
        println!("  {:<11} {} {line}", check.name, check.url);
    }
    Ok(())
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
