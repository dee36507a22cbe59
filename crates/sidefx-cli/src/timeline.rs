//! The timeline of one run: each event as one line, `<seconds>  <type>  <key=value …>`.
//! [`follow`] prints them live from `GET /runs/{id}/events` (SSE) until the run completes,
//! is dead-lettered or discarded, reopening a dropped stream where it stopped; `sidefx runs
//! show` prints the stored history with the same [`show`].

use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Deserialize;
use serde_json::{Map, Value};

use sidefx_core::RunId;

use crate::api_client::{ApiClient, RunEvents, StreamItem};
use crate::ui::{Countdown, Style};

/// The event after which nothing happens until the worker's lease expires.
const CRASH_EVENT: &str = "chaos.crash_now";

/// The fields shown after the event type, in this order, when present.
const DETAIL_FIELDS: [&str; 12] = [
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
    "by",
    "redrive",
];

/// How a followed run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// `run.completed` arrived.
    Completed,
    /// `run.dlq` arrived, with its error.
    DeadLettered(String),
    /// `run.discarded` arrived (with its reason), or the stream ended without a terminal
    /// event.
    Stopped(String),
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

/// Prints the run's events until it ends or the deadline passes. After a crash, counts the
/// lease down until the next event.
pub async fn follow(client: &ApiClient, run_id: &RunId, how: Follow) -> Result<Followed> {
    let style = how.style;
    let deadline = tokio::time::Instant::from_std(how.deadline);
    let started = Instant::now();
    let mut kinds = Vec::new();
    let mut events = RunEvents::new(client.clone(), run_id.clone(), None);
    let mut countdown: Option<Countdown> = None;
    let mut second = tokio::time::interval(Duration::from_secs(1));
    let end = loop {
        let item = tokio::select! {
            item = tokio::time::timeout_at(deadline, events.next()) => item,
            _ = second.tick(), if countdown.is_some() => {
                countdown.as_mut().map(Countdown::tick);
                continue;
            }
        };
        let Ok(item) = item else {
            break RunEnd::TimedOut;
        };
        countdown = None; // something happened: end the countdown's line first
        let event = match item? {
            None => break RunEnd::Stopped("the event stream ended".to_owned()),
            Some(StreamItem::Interrupted(why)) => {
                let note = format!("          (event stream interrupted: {why}; reconnecting)");
                println!("{}", style.dim(&note));
                continue;
            }
            Some(StreamItem::Event(event)) => event,
        };
        let elapsed = started.elapsed().as_secs_f64();
        if let Some(end) = show(&event.data, elapsed, style, &mut kinds) {
            break end;
        }
        if kinds.last().is_some_and(|k| k == CRASH_EVENT) {
            countdown = Some(lease_countdown(how.lease, style));
            second.reset();
        }
    };
    Ok(Followed { end, kinds })
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

/// Prints one event line, `elapsed` seconds into the run, and notes its type; returns how the
/// run ended if this event ends it.
pub fn show(data: &str, elapsed: f64, style: Style, kinds: &mut Vec<String>) -> Option<RunEnd> {
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
        "run.discarded" => Some(RunEnd::Stopped(format!(
            "discarded: {}",
            text(event.fields.get("reason"))
        ))),
        _ => None,
    }
}

/// `text` (the type, maybe padded) coloured by what the event type means for the run.
fn paint(kind: &str, text: &str, style: Style) -> String {
    let padded = text;
    if kind.starts_with("chaos.") || matches!(kind, "run.dlq" | "run.discarded") {
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
        let style = Style::plain();
        let mut kinds = Vec::new();
        let mut show = |data: &str| show(data, 1.5, style, &mut kinds);
        assert_eq!(
            show(r#"{"type":"run.completed","run_id":"r"}"#),
            Some(RunEnd::Completed)
        );
        assert_eq!(
            show(r#"{"type":"run.dlq","run_id":"r","error":"boom"}"#),
            Some(RunEnd::DeadLettered("boom".into()))
        );
        assert_eq!(
            show(r#"{"type":"run.discarded","run_id":"r","by":"ops","reason":"refunded"}"#),
            Some(RunEnd::Stopped("discarded: refunded".into()))
        );
        assert_eq!(show(r#"{"type":"sse.connected","run_id":"r"}"#), None);
        assert_eq!(
            show(r#"{"type":"run.redriven","run_id":"r","by":"ops"}"#),
            None
        );
        assert_eq!(show("not json"), None);
        let expected = [
            "run.completed",
            "run.dlq",
            "run.discarded",
            "sse.connected",
            "run.redriven",
        ];
        assert_eq!(kinds, expected);
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
