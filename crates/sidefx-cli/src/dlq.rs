//! `sidefx dlq …`: the dead-lettered runs and what to do with them. List them
//! (`GET /debug/dlq`), redrive them (`POST /runs/{id}/redrive` per id, or `POST /dlq/redrive`
//! for every one a filter selects) or give one up for good (`POST /runs/{id}/discard`).
//!
//! Exit codes: 0 when everything asked for was done; 1 when the API refused some of it (a run
//! not dead-lettered, its effect already done, its redrive cap reached; each refusal is
//! printed with the API's reason); 2 when the API could not be asked at all.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use sidefx_api::ErrorBody;
use sidefx_core::{RunId, now_ms};

use crate::api_client::{
    AdminArgs, ApiClient, ApiError, DlqResponse, EXIT_UNREACHABLE, Problem, RedriveAll, api_url,
};
use crate::stack::DataDir;
use crate::ui::Style;
use crate::ui::age;

/// Exit code when the API refused an action on a run.
const EXIT_REFUSED: u8 = 1;
/// Longest error shown in the table (the JSON has all of it).
const MAX_ERROR_CHARS: usize = 60;

/// `sidefx dlq …`.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List the dead letters, newest first: run, its status now (a redriven or discarded run
    /// keeps its dead letter in the archive), business key, attempts, error, age.
    List(ListArgs),
    /// Run dead-lettered runs again: each RUN_ID given, or --all of them (of one
    /// --business-key). The effect keeps its identity, so it still happens at most once.
    ///
    /// Prints what was redriven and, for each run the API refused (not dead-lettered, its
    /// effect already done, its redrive cap reached), why. Exits 1 if any was refused.
    Redrive(RedriveArgs),
    /// Give a dead-lettered run up for good (status `discarded`), saying why.
    Discard(DiscardArgs),
}

/// Which API, and its admin token: every `dlq` command uses admin routes.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Base URL of the sidefx API. Default: the stack recorded in --data-dir, else
    /// http://localhost:8000.
    #[arg(long, env = "SIDEFX_API_URL", value_name = "URL")]
    pub api: Option<String>,
    /// The API's admin token, when it is locked down.
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Flags of `sidefx dlq list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Dead letters to show (1-1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Print the API's JSON (`{count, items}`) instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Flags of `sidefx dlq redrive`.
#[derive(Debug, Args)]
pub struct RedriveArgs {
    /// The runs to redrive.
    #[arg(value_parser = parse_run_id, required_unless_present = "all", conflicts_with = "all")]
    pub run_ids: Vec<RunId>,
    /// Every dead-lettered run (with --business-key: of that key only).
    #[arg(long)]
    pub all: bool,
    /// With --all: only the runs of this business key.
    #[arg(long, value_name = "KEY", requires = "all")]
    pub business_key: Option<String>,
    /// With --all: at most this many runs.
    #[arg(long, requires = "all", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
    /// Why, recorded in each run's `run.redriven` event.
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Flags of `sidefx dlq discard`.
#[derive(Debug, Args)]
pub struct DiscardArgs {
    /// The run to give up.
    #[arg(value_parser = parse_run_id)]
    pub run_id: RunId,
    /// Why, recorded in the run's `run.discarded` event.
    #[arg(long, required = true)]
    pub reason: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

fn parse_run_id(raw: &str) -> Result<RunId, String> {
    RunId::parse(raw).map_err(|e| e.to_string())
}

/// Runs `sidefx dlq …`.
pub async fn run(dir: &DataDir, command: &DlqCommand, style: Style) -> Result<ExitCode> {
    let api = match command {
        DlqCommand::List(args) => &args.api,
        DlqCommand::Redrive(args) => &args.api,
        DlqCommand::Discard(args) => &args.api,
    };
    let client = api.admin.client(&api_url(api.api.as_deref(), dir)?)?;
    let outcome = match command {
        DlqCommand::List(args) => list(&client, args, style).await,
        DlqCommand::Redrive(args) if args.all => redrive_all(&client, args, style).await,
        DlqCommand::Redrive(args) => redrive_each(&client, args, style).await,
        DlqCommand::Discard(args) => discard(&client, args, style).await,
    };
    Ok(ExitCode::from(match outcome {
        Ok(Done::All) => 0,
        Ok(Done::SomeRefused) => EXIT_REFUSED,
        Err(e) => {
            eprintln!("{} {}", style.err("error:"), e.explained());
            EXIT_UNREACHABLE
        }
    }))
}

/// What a command came to, when the API could be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    All,
    SomeRefused,
}

async fn list(client: &ApiClient, args: &ListArgs, style: Style) -> Result<Done, ApiError> {
    let dlq = client.dlq(Some(args.limit as usize)).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&dlq).unwrap_or_default());
        return Ok(Done::All);
    }
    // The archive keeps every dead letter, also of runs redriven or discarded since: the
    // table says where each run is now, so the ones still waiting for a decision stand out.
    let mut now: HashMap<RunId, String> = HashMap::new();
    for record in &dlq.items {
        if !now.contains_key(&record.run_id) {
            let status = client.run(&record.run_id).await?;
            let status = status.map_or("unknown", |view| view.status.as_str());
            now.insert(record.run_id.clone(), status.to_owned());
        }
    }
    print_table(&dlq, &now, style);
    Ok(Done::All)
}

fn print_table(dlq: &DlqResponse, now: &HashMap<RunId, String>, style: Style) {
    if dlq.items.is_empty() {
        println!("{}", style.dim("no dead letters"));
        return;
    }
    let header = format!(
        "{:<34} {:<14} {:<32} {:>8}  {:<MAX_ERROR_CHARS$} {:>6}",
        "run", "now", "business key", "attempts", "error", "age"
    );
    println!("{}", style.bold(&header));
    let at = now_ms();
    for record in &dlq.items {
        let error: String = record.error.chars().take(MAX_ERROR_CHARS).collect();
        let attempts = format!("{}/{}", record.attempt + 1, record.max_attempts);
        let status = now.get(&record.run_id).map_or("", String::as_str);
        let status = match status {
            "dead_lettered" => style.err(&format!("{status:<14}")),
            _ => style.dim(&format!("{status:<14}")),
        };
        println!(
            "{:<34} {status} {:<32} {attempts:>8}  {error:<MAX_ERROR_CHARS$} {:>6}",
            record.run_id.as_str(),
            record.business_key.as_str(),
            age(at.saturating_sub(record.ts)),
        );
    }
}

/// `POST /runs/{id}/redrive` for each id, in order; a refusal does not stop the others.
async fn redrive_each(
    client: &ApiClient,
    args: &RedriveArgs,
    style: Style,
) -> Result<Done, ApiError> {
    let mut done = Done::All;
    for run_id in &args.run_ids {
        match refusal(client.redrive(run_id, args.reason.as_deref()).await)? {
            Ok(view) => println!(
                "{} {run_id} redriven (status {})",
                style.ok("✔"),
                view.status.as_str()
            ),
            Err(why) => {
                println!("{} {run_id} not redriven: {why}", style.err("✘"));
                done = Done::SomeRefused;
            }
        }
    }
    Ok(done)
}

/// `POST /dlq/redrive` for every dead-lettered run (of one key).
async fn redrive_all(
    client: &ApiClient,
    args: &RedriveArgs,
    style: Style,
) -> Result<Done, ApiError> {
    let which = RedriveAll {
        business_key: args.business_key.clone(),
        limit: args.limit,
        reason: args.reason.clone(),
    };
    let answer = client.redrive_all(&which).await?;
    for run_id in &answer.redriven {
        println!("{} {run_id} redriven", style.ok("✔"));
    }
    for refused in &answer.refused {
        let run_id = &refused.run_id;
        let why = format!("{} ({})", refused.message, refused.error);
        println!("{} {run_id} not redriven: {why}", style.err("✘"));
    }
    if answer.redriven.is_empty() && answer.refused.is_empty() {
        println!("{}", style.dim("no dead-lettered run to redrive"));
    }
    Ok(if answer.refused.is_empty() {
        Done::All
    } else {
        Done::SomeRefused
    })
}

async fn discard(client: &ApiClient, args: &DiscardArgs, style: Style) -> Result<Done, ApiError> {
    let run_id = &args.run_id;
    match refusal(client.discard(run_id, &args.reason).await)? {
        Ok(view) => {
            let status = view.status.as_str();
            println!("{} {run_id} discarded (status {status})", style.ok("✔"));
            Ok(Done::All)
        }
        Err(why) => {
            println!("{} {run_id} not discarded: {why}", style.err("✘"));
            Ok(Done::SomeRefused)
        }
    }
}

/// Splits an action's answer: `Ok(Err(why))` when the API refused it for this run (a 404,
/// 409 or 422, with its message), `Err` when the API could not be asked (or refused the
/// request as such: a missing token).
fn refusal<T>(answer: Result<T, ApiError>) -> Result<Result<T, String>, ApiError> {
    match answer {
        Ok(value) => Ok(Ok(value)),
        Err(ApiError {
            problem: Problem::Status { status, body },
            ..
        }) if matches!(status, 404 | 409 | 422) => {
            Ok(Err(match serde_json::from_str::<ErrorBody>(&body) {
                Ok(error) => format!("{} ({})", error.message, error.error),
                Err(_) => format!("HTTP {status}: {body}"),
            }))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_client::Request;

    fn refused(status: u16, body: &str) -> Result<(), ApiError> {
        Err(ApiError {
            request: Request {
                method: "POST",
                url: "http://api/runs/r/redrive".into(),
            },
            problem: Problem::Status {
                status,
                body: body.into(),
            },
        })
    }

    #[test]
    fn a_refusal_for_the_run_is_told_apart_from_an_unusable_api() {
        let body = r#"{"error":"not_dead_lettered","message":"run r is completed"}"#;
        let why = refusal(refused(409, body)).unwrap().unwrap_err();
        assert_eq!(why, "run r is completed (not_dead_lettered)");
        assert_eq!(
            refusal(refused(404, "gone")).unwrap().unwrap_err(),
            "HTTP 404: gone"
        );
        assert!(
            refusal(refused(401, "{}")).is_err(),
            "a locked API is not a refusal"
        );
        assert!(refusal(refused(500, "{}")).is_err());
        assert_eq!(refusal(Ok(())).unwrap(), Ok(()));
    }
}
