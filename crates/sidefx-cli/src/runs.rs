//! `sidefx runs list`: the API's runs, newest first, a page at a time (`GET /runs`), as a
//! table or as the API's JSON.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use sidefx_core::{RunStatus, now_ms};

use crate::api_client::{AdminArgs, ApiError, Problem, RunList, api_url};
use crate::stack::DataDir;
use crate::ui::Style;

/// Exit code when the API could not be asked or refused the request.
const EXIT_UNREACHABLE: u8 = 2;

/// `sidefx runs …`.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first: status, attempts, redrives, business key, age.
    ///
    /// One page per call (`--limit`, default 50); when there are more, the last line gives
    /// the `--before` that lists the next page. Exits 0, or 2 when the API cannot be reached
    /// or refuses the request (the API's message is printed). The API's `GET /runs` is an
    /// admin route: pass --admin-token when it is locked.
    List(ListArgs),
}

/// Flags of `sidefx runs list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Base URL of the sidefx API. Default: the stack recorded in --data-dir, else
    /// http://localhost:8000.
    #[arg(long, env = "SIDEFX_API_URL", value_name = "URL")]
    pub api: Option<String>,
    /// Only runs of this status: queued, running, retrying, completed, dead_lettered or
    /// rejected.
    #[arg(long, value_parser = parse_status)]
    pub status: Option<RunStatus>,
    /// Only the runs of this business key.
    #[arg(long, value_name = "KEY")]
    pub business_key: Option<String>,
    /// Runs per page (1-1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Start after this position: the `--before` the previous page printed.
    #[arg(long, value_name = "CURSOR")]
    pub before: Option<String>,
    /// Print the API's JSON (`{runs, next}`) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The API's admin token, when it is locked down.
    #[command(flatten)]
    pub admin: AdminArgs,
}

fn parse_status(raw: &str) -> Result<RunStatus, String> {
    RunStatus::parse(raw).ok_or_else(|| {
        "one of queued, running, retrying, completed, dead_lettered, rejected".to_owned()
    })
}

/// Runs `sidefx runs …`.
pub async fn run(dir: &DataDir, command: &RunsCommand, style: Style) -> Result<ExitCode> {
    let RunsCommand::List(args) = command;
    let api = api_url(args.api.as_deref(), dir)?;
    let client = args.admin.client(&api)?;
    let query = sidefx_api::routes::runs::ListRunsQuery {
        status: args.status.map(|s| s.as_str().to_owned()),
        business_key: args.business_key.clone(),
        limit: Some(args.limit.to_string()),
        before: args.before.clone(),
    };
    let list = match client.runs(&query).await {
        Ok(list) => list,
        Err(e) => {
            eprintln!("{} {}", style.err("error:"), explain(&e));
            return Ok(ExitCode::from(EXIT_UNREACHABLE));
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        print_table(&list, args, style);
    }
    Ok(ExitCode::SUCCESS)
}

/// What went wrong, with what to do about it.
fn explain(e: &ApiError) -> String {
    match &e.problem {
        Problem::Status { status: 401, .. } => format!(
            "{}: the API is locked; pass --admin-token (or set API_ADMIN_TOKEN)",
            e.request
        ),
        Problem::Transport(_) => format!("{e} (is the stack up? `sidefx status`, or pass --api)"),
        _ => e.to_string(),
    }
}

fn print_table(list: &RunList, args: &ListArgs, style: Style) {
    if list.runs.is_empty() {
        println!("{}", style.dim("no runs"));
        return;
    }
    println!(
        "{}",
        style.bold(&format!(
            "{:<34} {:<14} {:>8} {:>8}  {:<40} {:>8}",
            "run", "status", "attempts", "redrives", "business key", "age"
        ))
    );
    let now = now_ms();
    for run in &list.runs {
        let status = format!("{:<14}", run.status.as_str());
        let status = match run.status {
            RunStatus::Completed => style.ok(&status),
            RunStatus::DeadLettered | RunStatus::Rejected | RunStatus::Discarded => {
                style.err(&status)
            }
            RunStatus::Queued | RunStatus::Running | RunStatus::Retrying => style.warn(&status),
        };
        println!(
            "{:<34} {status} {:>8} {:>8}  {:<40} {:>8}",
            run.run_id.as_str(),
            run.attempts,
            run.redrives,
            run.business_key.as_str(),
            age(now.saturating_sub(run.created_ms)),
        );
    }
    if let Some(next) = &list.next {
        let mut again = String::from("sidefx runs list");
        if let Some(status) = args.status {
            again.push_str(&format!(" --status {}", status.as_str()));
        }
        if let Some(key) = &args.business_key {
            again.push_str(&format!(" --business-key {key}"));
        }
        if args.limit != 50 {
            again.push_str(&format!(" --limit {}", args.limit));
        }
        println!("{}", style.dim(&format!("more: {again} --before {next}")));
    }
}

/// `850ms`, `12s`, `5m`, `3h`, `2d`.
fn age(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{}s", ms / 1_000),
        60_000..3_600_000 => format!("{}m", ms / 60_000),
        3_600_000..86_400_000 => format!("{}h", ms / 3_600_000),
        _ => format!("{}d", ms / 86_400_000),
    }
}

#[cfg(test)]
mod tests {
    use super::age;

    #[test]
    fn ages_read_in_the_largest_whole_unit() {
        let ages: Vec<String> = [
            0, 999, 1_000, 59_999, 60_000, 3_599_999, 3_600_000, 90_000_000,
        ]
        .map(age)
        .into();
        assert_eq!(ages, ["0ms", "999ms", "1s", "59s", "1m", "59m", "1h", "1d"]);
    }
}
