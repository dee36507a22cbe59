//! `sidefx runs list`: the API's runs, newest first, a page at a time (`GET /runs`), as a
//! table or as the API's JSON. `sidefx runs show` (one run and its timeline) is in
//! `run_show.rs`.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use sidefx_core::{RunStatus, now_ms};

use crate::api_client::{AdminArgs, EXIT_UNREACHABLE, RunList, api_url};
use crate::stack::DataDir;
use crate::ui::Style;

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
    /// One run: status, attempts, side effects and receipts, then its timeline (the same
    /// lines the demo prints), from the API's stored history.
    ///
    /// With --follow, the events after the history are printed live until the run ends.
    /// Exits 0; 1 when the API does not know the run; 2 when the API cannot be reached or
    /// refuses the request.
    Show(crate::run_show::ShowArgs),
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
    match command {
        RunsCommand::List(args) => list(dir, args, style).await,
        RunsCommand::Show(args) => crate::run_show::run(dir, args, style).await,
    }
}

/// Runs `sidefx runs list`.
async fn list(dir: &DataDir, args: &ListArgs, style: Style) -> Result<ExitCode> {
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
            eprintln!("{} {}", style.err("error:"), e.explained());
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
            crate::ui::age(now.saturating_sub(run.created_ms)),
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
