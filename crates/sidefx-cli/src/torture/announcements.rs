//! Counting `side_effect.executing` announcements: after a scenario, every finished run's
//! events are read back through the API (`GET /runs/{id}/events`, SSE) up to the run's
//! terminal event. An announcement is not an execution — a worker that crashes right after
//! its claim announces and never performs — so these counts are informational; the effect's
//! ledger (see `executions`) judges.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Deserialize;

use sidefx_core::RunId;

use super::evidence::{PROBLEM_LINES, note};
use crate::api_client::ApiClient;
use crate::load::{RunState, Submission, map_concurrent};

/// Streams open at once. The API admits 16 per client address and gives a slot back only
/// once it notices a closed stream, so this leaves headroom rather than collecting 503s.
const STREAMS_AT_ONCE: usize = 8;
/// How long all the reads of one scenario may take together.
const READ_BUDGET: Duration = Duration::from_secs(60);
/// Pause before reopening an interrupted stream (or one the API refused for now).
const RECONNECT: Duration = Duration::from_millis(200);

/// The announcements of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunAnnouncements {
    /// `side_effect.executing` events per effect id.
    pub per_effect: BTreeMap<String, u64>,
}

impl RunAnnouncements {
    /// The most announcements of one effect of this run.
    pub fn most(&self) -> u64 {
        self.per_effect.values().copied().max().unwrap_or(0)
    }

    /// All announcements of this run.
    pub fn total(&self) -> u64 {
        self.per_effect.values().sum()
    }
}

/// What the runs' event streams said.
#[derive(Debug, Clone, Default)]
pub struct Announcements {
    /// Per submission, in order: `None` when not read (never accepted or never finished),
    /// else the run's counts or why its stream was not read to the terminal event.
    pub runs: Vec<Option<Result<RunAnnouncements, String>>>,
    /// Wall time of all the reads.
    pub elapsed: Duration,
}

impl Announcements {
    /// The announcements of the run of submission `index`, if read to the end.
    pub fn of(&self, index: usize) -> Option<&RunAnnouncements> {
        self.runs.get(index)?.as_ref()?.as_ref().ok()
    }

    /// Every run read to the end.
    pub fn read(&self) -> impl Iterator<Item = &RunAnnouncements> {
        self.runs.iter().flatten().flatten()
    }

    /// Runs whose stream could not be read to the terminal event, with why.
    pub fn unread(&self) -> impl Iterator<Item = &String> {
        self.runs.iter().flatten().filter_map(|r| r.as_ref().err())
    }

    /// The columns of the torture table; a few lines for the streams not read to the end.
    pub fn summary(&self, problems: &mut Vec<String>) -> Summary {
        for why in self.unread().take(PROBLEM_LINES) {
            note(
                problems,
                format!("events not read to the end (not counted): {why}"),
            );
        }
        Summary {
            most: self.read().map(RunAnnouncements::most).max(),
            total: self.read().map(RunAnnouncements::total).sum(),
            unread: self.unread().count(),
            read_ms: u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// The announcements of a scenario, summed over its runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Most `side_effect.executing` events of one effect (`None`: no stream was read).
    pub most: Option<u64>,
    /// All of them.
    pub total: u64,
    /// Finished runs whose stream was not read to its terminal event.
    pub unread: usize,
    /// Wall time of the reads (ms).
    pub read_ms: u64,
}

/// Reads the events of every finished run of `submissions` from the API at `api`, a few
/// streams at a time, within [`READ_BUDGET`].
pub async fn read(
    api: &str,
    submissions: &[Submission],
    states: &[Option<RunState>],
) -> Result<Announcements> {
    let started = Instant::now();
    let deadline = started + READ_BUDGET;
    // No total timeout: a stream lasts as long as it has events; the budget bounds it.
    let client = ApiClient::new(api, None)?;
    let finished: Vec<Option<RunId>> = submissions
        .iter()
        .zip(states)
        .map(|(s, state)| {
            let finished = state.as_ref().is_some_and(|s| s.status.is_final());
            s.run_id.clone().filter(|_| finished)
        })
        .collect();
    let runs = map_concurrent(finished, STREAMS_AT_ONCE, move |run_id| {
        let client = client.clone();
        async move {
            let run_id = run_id?;
            let read = read_run(&client, &run_id, deadline).await;
            Some(read.map_err(|why| format!("run {run_id}: {why}")))
        }
    })
    .await;
    Ok(Announcements {
        runs,
        elapsed: started.elapsed(),
    })
}

/// Reads one run's stream until its terminal event, reopening it when it is interrupted (a
/// reopened stream may repeat events, which [`Seen`] counts once); the error says what
/// stopped the last attempt.
async fn read_run(
    client: &ApiClient,
    run_id: &RunId,
    deadline: Instant,
) -> Result<RunAnnouncements, String> {
    let mut seen = Seen::default();
    loop {
        let why = match stream_once(client, run_id, deadline, &mut seen).await {
            Ok(true) => return Ok(seen.counts),
            Ok(false) => "the stream ended before the run's terminal event".to_owned(),
            Err(why) => why,
        };
        if Instant::now() + RECONNECT >= deadline {
            return Err(why);
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

/// The announcements seen so far. A reopened stream repeats events the previous one
/// delivered, byte for byte; two real announcements differ (at least in `ts`).
#[derive(Debug, Default)]
struct Seen {
    counts: RunAnnouncements,
    events: HashSet<String>,
}

/// The fields of an event this count reads.
#[derive(Debug, Deserialize)]
struct EventHead {
    #[serde(rename = "type")]
    kind: String,
    effect_id: Option<String>,
}

/// One connection: `Ok(true)` at the terminal event, `Ok(false)` when the stream ended first.
async fn stream_once(
    client: &ApiClient,
    run_id: &RunId,
    deadline: Instant,
    seen: &mut Seen,
) -> Result<bool, String> {
    let deadline = tokio::time::Instant::from_std(deadline);
    let late = || "the read budget ran out".to_owned();
    let stream = tokio::time::timeout_at(deadline, client.events(run_id, None))
        .await
        .map_err(|_| late())?;
    let mut stream = stream.map_err(|e| e.problem.to_string())?;
    loop {
        let event = tokio::time::timeout_at(deadline, stream.next())
            .await
            .map_err(|_| late())?;
        let Some(event) = event.map_err(|e| e.to_string())? else {
            return Ok(false);
        };
        if seen.add(event.data) {
            return Ok(true);
        }
    }
}

impl Seen {
    /// Counts one event; true when it ends the run.
    fn add(&mut self, data: String) -> bool {
        let Ok(head) = serde_json::from_str::<EventHead>(&data) else {
            return false;
        };
        match head.kind.as_str() {
            "side_effect.executing" => {
                if self.events.insert(data) {
                    let effect = head.effect_id.unwrap_or_default();
                    *self.counts.per_effect.entry(effect).or_insert(0) += 1;
                }
                false
            }
            "run.completed" | "run.dlq" => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executing(effect: &str, ts: u64) -> String {
        format!(
            r#"{{"type":"side_effect.executing","ts":{ts},"run_id":"r","effect_id":"{effect}"}}"#
        )
    }

    #[test]
    fn announcements_count_per_effect_and_a_redelivered_event_counts_once() {
        let mut seen = Seen::default();
        assert!(!seen.add(r#"{"type":"sse.connected","run_id":"r"}"#.to_owned()));
        assert!(!seen.add(executing("r:s:k", 1)));
        // The same bytes again: the reopened stream redelivered the unacked event.
        assert!(!seen.add(executing("r:s:k", 1)));
        // A second announcement (a takeover after a crash before the effect).
        assert!(!seen.add(executing("r:s:k", 2)));
        assert!(!seen.add("not json".to_owned()));
        assert!(seen.add(r#"{"type":"run.completed","run_id":"r"}"#.to_owned()));
        assert_eq!(seen.counts.per_effect["r:s:k"], 2);
        assert_eq!((seen.counts.most(), seen.counts.total()), (2, 2));
    }

    #[test]
    fn a_dead_letter_ends_the_run() {
        let mut seen = Seen::default();
        assert!(seen.add(r#"{"type":"run.dlq","run_id":"r","error":"boom"}"#.to_owned()));
        assert_eq!(seen.counts.most(), 0);
    }
}
