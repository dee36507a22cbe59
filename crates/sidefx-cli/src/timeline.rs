//! The live timeline of one run: reads `GET /runs/{id}/events` (SSE) and prints each event as
//! it arrives, until the run completes or is dead-lettered. A dropped stream is reopened with
//! the same `client_id`, so the API's consumer group resumes where it stopped.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{Map, Value};

use sidefx_core::RunId;

use crate::api_client::ApiClient;
use crate::ui::{Countdown, Style};

/// The consumer group of the timeline's stream, as `curl -N '…/events?client_id=cli'` shows.
const CLIENT_ID: &str = "cli";
/// The event after which nothing happens until the worker's lease expires.
const CRASH_EVENT: &str = "chaos.crash_now";

/// The fields shown after the event type, in this order, when present.
const DETAIL_FIELDS: [&str; 10] = [
    "attempt",
    "next_attempt",
    "max_attempts",
    "reason",
    "error",
    "backoff_s",
    "business_key",
    "amount",
    "artifact_path",
    "note",
];

/// How a followed run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// `run.completed` arrived.
    Completed,
    /// `run.dlq` arrived, with its error.
    DeadLettered(String),
    /// The deadline passed first.
    TimedOut,
}

/// An event as the timeline shows it. The CLI reads only the type and prints the other fields
/// generically, so it keeps working when the worker gains new event types or fields.
#[derive(Debug, Deserialize)]
struct TimelineEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(flatten)]
    fields: Map<String, Value>,
}

/// A followed run: how it ended and the type of every event shown, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followed {
    /// How the run ended.
    pub end: RunEnd,
    /// The event types seen (`side_effect.skipped`, …): the path the worker took.
    pub kinds: Vec<String>,
}

/// How to follow one run.
#[derive(Debug, Clone, Copy)]
pub struct Follow {
    /// When to give up.
    pub deadline: Instant,
    /// The workers' lease: after a crash, DriftQ redelivers once it expired.
    pub lease: Duration,
    /// Colours.
    pub style: Style,
}

/// Prints the run's events until it ends or the deadline passes.
pub async fn follow(client: &ApiClient, run_id: &RunId, how: Follow) -> Result<Followed> {
    let (deadline, style) = (how.deadline, how.style);
    let started = Instant::now();
    let mut kinds = Vec::new();
    loop {
        let streamed = stream_once(client, run_id, started, how, &mut kinds).await;
        let interrupted = match streamed {
            Ok(Some(end)) => return Ok(Followed { end, kinds }),
            Ok(None) => "the server closed the stream".to_owned(),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            return Ok(Followed {
                end: RunEnd::TimedOut,
                kinds,
            });
        }
        println!(
            "{}",
            style.dim(&format!(
                "          (event stream interrupted: {interrupted}; reconnecting)"
            ))
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One connection: `Some(end)` when the run ended or the deadline passed, `None` when the
/// stream ended first. After a crash, counts the lease down until the next event.
async fn stream_once(
    client: &ApiClient,
    run_id: &RunId,
    started: Instant,
    how: Follow,
    kinds: &mut Vec<String>,
) -> Result<Option<RunEnd>> {
    let style = how.style;
    let deadline = tokio::time::Instant::from_std(how.deadline);
    let Ok(stream) = tokio::time::timeout_at(deadline, client.events(run_id, CLIENT_ID)).await
    else {
        return Ok(Some(RunEnd::TimedOut));
    };
    let mut stream = stream?;
    let mut countdown: Option<Countdown> = None;
    let mut second = tokio::time::interval(Duration::from_secs(1));
    loop {
        let event = tokio::select! {
            event = tokio::time::timeout_at(deadline, stream.next()) => event,
            _ = second.tick(), if countdown.is_some() => {
                countdown.as_mut().map(Countdown::tick);
                continue;
            }
        };
        let Ok(event) = event else {
            return Ok(Some(RunEnd::TimedOut));
        };
        let Some(event) = event.context("reading the event stream")? else {
            return Ok(None);
        };
        countdown = None; // something happened: end the countdown's line first
        let end = show(&event.data, started, style, kinds);
        if end.is_none() && kinds.last().is_some_and(|k| k == CRASH_EVENT) {
            countdown = Some(lease_countdown(how.lease, style));
            second.reset();
        }
        if end.is_some() {
            return Ok(end);
        }
    }
}

/// What the silence after a crash is: the worker is gone, and DriftQ hands its command to
/// the restarted worker only once the lease on it expired.
fn lease_countdown(lease: Duration, style: Style) -> Countdown {
    let secs = lease.as_secs_f64().ceil() as u64;
    let message = format!(
        "          ⏳ worker crashed; DriftQ redelivers after the {secs} s lease (WORKER_LEASE_MS)"
    );
    Countdown::start(&style.dim(&message), secs)
}

/// Prints one event line and notes its type; returns how the run ended if this event ends it.
fn show(data: &str, started: Instant, style: Style, kinds: &mut Vec<String>) -> Option<RunEnd> {
    let elapsed = started.elapsed().as_secs_f64();
    let Ok(event) = serde_json::from_str::<TimelineEvent>(data) else {
        println!("  {elapsed:>6.2}s  {}", style.dim(data));
        return None;
    };
    kinds.push(event.kind.clone());
    let details = details(&event.fields);
    if details.is_empty() {
        println!(
            "  {elapsed:>6.2}s  {}",
            paint(&event.kind, &event.kind, style)
        );
    } else {
        let padded = format!("{:<24}", event.kind);
        println!(
            "  {elapsed:>6.2}s  {}  {}",
            paint(&event.kind, &padded, style),
            style.dim(&details)
        );
    }
    match event.kind.as_str() {
        "run.completed" => Some(RunEnd::Completed),
        "run.dlq" => Some(RunEnd::DeadLettered(text(event.fields.get("error")))),
        _ => None,
    }
}

/// `text` (the type, maybe padded) coloured by what the event type means for the run.
fn paint(kind: &str, text: &str, style: Style) -> String {
    let padded = text;
    if kind.starts_with("chaos.") || kind == "run.dlq" {
        style.err(padded)
    } else if kind.ends_with(".failed") {
        style.warn(padded)
    } else if matches!(
        kind,
        "side_effect.done" | "step.completed" | "run.completed"
    ) {
        style.ok(padded)
    } else if kind.starts_with("retry.")
        || kind.starts_with("side_effect.") && kind != "side_effect.executing"
    {
        style.accent(padded)
    } else {
        padded.to_owned()
    }
}

/// `key=value` for the interesting fields present in the event.
fn details(fields: &Map<String, Value>) -> String {
    DETAIL_FIELDS
        .iter()
        .filter_map(|key| {
            fields
                .get(*key)
                .map(|value| format!("{key}={}", text(Some(value))))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_events_end_the_run() {
        let now = Instant::now();
        let style = Style::plain();
        let mut kinds = Vec::new();
        let mut show = |data: &str| show(data, now, style, &mut kinds);
        assert_eq!(
            show(r#"{"type":"run.completed","run_id":"r"}"#),
            Some(RunEnd::Completed)
        );
        assert_eq!(
            show(r#"{"type":"run.dlq","run_id":"r","error":"boom"}"#),
            Some(RunEnd::DeadLettered("boom".into()))
        );
        assert_eq!(show(r#"{"type":"sse.connected","run_id":"r"}"#), None);
        assert_eq!(show("not json"), None);
        assert_eq!(kinds, ["run.completed", "run.dlq", "sse.connected"]);
    }

    #[test]
    fn details_show_known_fields_in_order() {
        let event: TimelineEvent = serde_json::from_str(
            r#"{"type":"step.failed","ts":1,"run_id":"r","reason":"x","attempt":0}"#,
        )
        .unwrap();
        assert_eq!(details(&event.fields), "attempt=0 reason=x");
    }
}
