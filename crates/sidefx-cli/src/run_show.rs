//! `sidefx runs show ID [--follow] [--json]`: one run, at any time. Its status, attempts and
//! side effects with their receipts (`GET /runs/{id}`), then its timeline from the stored
//! history (`GET /runs/{id}/history`, the same lines the demo prints), and with `--follow`
//! the events after it, live from the SSE stream until the API ends it.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::{Value, json};
use sidefx_core::{Receipt, RunId, now_ms};

use crate::api_client::{
    AdminArgs, ApiClient, EXIT_UNREACHABLE, RunEvents, RunView, StreamItem, api_url,
};
use crate::stack::DataDir;
use crate::timeline;
use crate::ui::Style;

/// Exit code when the API does not know the run.
const EXIT_NOT_FOUND: u8 = 1;

/// Flags of `sidefx runs show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run's id (what `POST /runs` answered, or `sidefx runs list` shows).
    #[arg(value_parser = parse_run_id)]
    pub run_id: RunId,
    /// After the history, print the run's events live until the run ends (its stream closes
    /// after run.completed, run.dlq or run.discarded). A dropped stream is reopened where it
    /// stopped.
    #[arg(long)]
    pub follow: bool,
    /// JSON lines instead of text: first `{"run": …}` (the API's run view), then one
    /// `{"seq": …, "event": …}` per event.
    #[arg(long)]
    pub json: bool,
    /// Base URL of the sidefx API. Default: the stack recorded in --data-dir, else
    /// http://localhost:8000.
    #[arg(long, env = "SIDEFX_API_URL", value_name = "URL")]
    pub api: Option<String>,
    /// The API's admin token, when it is locked down.
    #[command(flatten)]
    pub admin: AdminArgs,
}

fn parse_run_id(raw: &str) -> Result<RunId, String> {
    RunId::parse(raw).map_err(|e| e.to_string())
}

/// Runs `sidefx runs show`.
pub async fn run(dir: &DataDir, args: &ShowArgs, style: Style) -> Result<ExitCode> {
    let api = api_url(args.api.as_deref(), dir)?;
    let client = args.admin.client(&api)?;
    let fetched = async {
        let view = client.run(&args.run_id).await?;
        let history = client.history(&args.run_id).await?;
        Ok::<_, crate::api_client::ApiError>(view.zip(history))
    };
    let (view, history) = match fetched.await {
        Ok(Some(found)) => found,
        Ok(None) => {
            eprintln!("{} {api} knows no run {}", style.err("error:"), args.run_id);
            return Ok(ExitCode::from(EXIT_NOT_FOUND));
        }
        Err(e) => {
            eprintln!("{} {}", style.err("error:"), e.explained());
            return Ok(ExitCode::from(EXIT_UNREACHABLE));
        }
    };
    let mut out = Timeline::new(&view, args.json, style);
    out.run(&view);
    for item in &history {
        let event = serde_json::to_value(&item.event).unwrap_or(Value::Null);
        out.event(u64::try_from(item.seq).ok(), &event);
    }
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    if view.status.is_final() {
        out.note(&format!(
            "the run is {}: nothing more to follow",
            view.status.as_str()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let after = history.last().and_then(|item| u64::try_from(item.seq).ok());
    if let Err(e) = follow(&client, &args.run_id, after, &mut out).await {
        eprintln!("{} {}", style.err("error:"), e.explained());
        return Ok(ExitCode::from(EXIT_UNREACHABLE));
    }
    match client.run(&args.run_id).await {
        Ok(Some(view)) => out.run(&view),
        Ok(None) => {}
        Err(e) => eprintln!("{} {}", style.err("error:"), e.explained()),
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the run's events after `after` as they arrive, until the API ends the stream.
async fn follow(
    client: &ApiClient,
    run_id: &RunId,
    after: Option<u64>,
    out: &mut Timeline,
) -> Result<(), crate::api_client::ApiError> {
    let mut events = RunEvents::new(client.clone(), run_id.clone(), after);
    while let Some(item) = events.next().await? {
        let event = match item {
            StreamItem::Event(event) => event,
            StreamItem::Interrupted(why) => {
                out.note(&format!("event stream interrupted: {why}; reconnecting"));
                continue;
            }
        };
        // The stream's own `sse.connected`, one per connection, is not an event of the run.
        if event.event.starts_with("sse.") {
            continue;
        }
        let seq = event.id.as_deref().and_then(|id| id.parse::<u64>().ok());
        let data = serde_json::from_str(&event.data).unwrap_or(Value::String(event.data));
        // Printed at most once, however a reconnect overlaps what was shown.
        if seq.is_some() && seq <= out.last_seq {
            continue;
        }
        out.event(seq, &data);
    }
    Ok(())
}

/// Where the lines go, as text or JSON lines.
#[derive(Debug)]
struct Timeline {
    json: bool,
    style: Style,
    /// Event times are shown in seconds since the run was created.
    created_ms: i64,
    /// The highest sequence number printed.
    last_seq: Option<u64>,
    kinds: Vec<String>,
    headed: bool,
}

impl Timeline {
    fn new(view: &RunView, json: bool, style: Style) -> Self {
        Self {
            json,
            style,
            created_ms: view.created_ms,
            last_seq: None,
            kinds: Vec::new(),
            headed: false,
        }
    }

    /// The run: a JSON line, or its status, attempts and effects as text.
    fn run(&mut self, view: &RunView) {
        if self.json {
            println!("{}", json!({ "run": view }));
        } else {
            print_run(view, self.style);
        }
    }

    /// One event (`seq` when the API numbered it).
    fn event(&mut self, seq: Option<u64>, event: &Value) {
        self.last_seq = seq.max(self.last_seq);
        if self.json {
            println!("{}", json!({ "seq": seq, "event": event }));
            return;
        }
        if !self.headed {
            println!("{}", self.style.bold("Timeline"));
            self.headed = true;
        }
        let ts = event
            .get("ts")
            .and_then(Value::as_i64)
            .unwrap_or(self.created_ms);
        let elapsed = ts.saturating_sub(self.created_ms) as f64 / 1000.0;
        timeline::show(&event.to_string(), elapsed, self.style, &mut self.kinds);
    }

    /// A remark about the stream: dim text on stdout, or stderr beside JSON lines.
    fn note(&self, text: &str) {
        if self.json {
            eprintln!("{text}");
        } else {
            println!("{}", self.style.dim(&format!("          ({text})")));
        }
    }
}

/// The run's header: id, key, status, attempts, and each side effect with its receipt.
fn print_run(view: &RunView, style: Style) {
    let age = crate::ui::age(now_ms().saturating_sub(view.created_ms));
    println!("{} {}", style.bold("run"), view.run_id);
    println!(
        "  status {}  attempts {} of {}  redrives {}  business key {}  created {age} ago",
        style.bold(view.status.as_str()),
        view.attempts,
        view.request.max_attempts,
        view.redrives,
        view.request.business_key,
    );
    if view.effects.is_empty() {
        println!("  {}", style.dim("no side effect recorded"));
    }
    for effect in &view.effects {
        let receipt = effect
            .receipt
            .as_ref()
            .map_or_else(|| "no receipt".to_owned(), describe_receipt);
        println!(
            "  effect {} {} (claims {})  {receipt}",
            effect.effect_id,
            effect.status.as_str(),
            effect.attempts
        );
    }
}

/// `ticket tickets/ticket_k.json`, `charge ch_… (ticket …)`, `remote <id>`.
fn describe_receipt(receipt: &Receipt) -> String {
    match receipt {
        Receipt::Ticket { path } => format!("receipt: ticket {path}"),
        Receipt::Charge {
            charge_id,
            ticket_path,
        } => format!("receipt: charge {charge_id} (ticket {ticket_path})"),
        Receipt::Remote { id } => format!("receipt: remote {id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_name_where_the_effect_can_be_checked() {
        let charge = Receipt::Charge {
            charge_id: "ch_1".into(),
            ticket_path: "tickets/ticket_k.json".into(),
        };
        assert_eq!(
            describe_receipt(&charge),
            "receipt: charge ch_1 (ticket tickets/ticket_k.json)"
        );
        let ticket = Receipt::Ticket {
            path: "tickets/ticket_k.json".into(),
        };
        assert_eq!(
            describe_receipt(&ticket),
            "receipt: ticket tickets/ticket_k.json"
        );
    }

    #[test]
    fn run_ids_are_checked_before_any_request() {
        assert!(parse_run_id("not a run id!").is_err());
        assert!(parse_run_id("run-1").is_ok());
    }
}
