//! `GET /runs/{id}/events` as a stream of server-sent events.
//!
//! [`EventStream`] is one connection: the bytes of the response are fed to the SSE parser
//! (`src/sse.rs`), which keeps a partial event across chunks. [`RunEvents`] is what commands
//! follow a run with: it reopens a dropped connection with `Last-Event-ID` (the `id:` of the
//! last event it delivered), so the API resumes right after it, and ends at `sse.end`, which
//! the API sends after the run's terminal event.

use std::collections::VecDeque;
use std::time::Duration;

use sidefx_core::RunId;

use super::ApiClient;
use super::error::{ApiError, Problem, describe};
use crate::sse::{SseEvent, SseParser};

/// The event the API ends a stream with, once the run reached a terminal event.
pub const END_EVENT: &str = "sse.end";
/// Pause before reopening a dropped stream.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);
/// Connections in a row that may fail (about 10 s of pauses) before following gives up.
const MAX_FAILED_CONNECTS: u32 = 20;

/// An open event stream of one run.
#[derive(Debug)]
pub struct EventStream {
    response: reqwest::Response,
    parser: SseParser,
    ready: VecDeque<SseEvent>,
}

impl EventStream {
    pub(super) fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            parser: SseParser::default(),
            ready: VecDeque::new(),
        }
    }

    /// The next event; `None` once the server closed the stream.
    ///
    /// Cancel-safe (use it in `select!`): events parsed from a chunk wait in the stream until
    /// asked for, and a chunk is never half-read.
    pub async fn next(&mut self) -> Result<Option<SseEvent>, Problem> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.ready.extend(self.parser.push(&chunk)),
                Ok(None) => return Ok(None),
                Err(e) => return Err(Problem::Transport(describe(&e))),
            }
        }
    }
}

/// What following a run yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    /// An event (`sse.connected` starts each connection).
    Event(SseEvent),
    /// The connection dropped, for this reason; the next call reopens it.
    Interrupted(String),
}

/// A run's events across dropped connections, until `sse.end`.
#[derive(Debug)]
pub struct RunEvents {
    client: ApiClient,
    run_id: RunId,
    stream: Option<EventStream>,
    /// The `id:` of the last event delivered, sent as `Last-Event-ID` on a reconnect.
    last_id: Option<String>,
    /// Whether a connection was open before (a reconnect pauses first).
    connected_before: bool,
    failed_connects: u32,
    ended: bool,
}

impl RunEvents {
    /// Follows `run_id` from its first event, or from the one after the sequence number
    /// `after` (what `GET /runs/{id}/history` ended with).
    pub fn new(client: ApiClient, run_id: RunId, after: Option<u64>) -> Self {
        Self {
            client,
            run_id,
            stream: None,
            last_id: after.map(|seq| seq.to_string()),
            connected_before: false,
            failed_connects: 0,
            ended: false,
        }
    }

    /// The next event or interruption; `None` after `sse.end`. Fails when the stream cannot
    /// be reopened (the API is gone, or refuses it).
    ///
    /// Cancel-safe: cancelled while connecting, the next call connects again.
    pub async fn next(&mut self) -> Result<Option<StreamItem>, ApiError> {
        if self.ended {
            return Ok(None);
        }
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => match self.connect().await {
                Ok(stream) => self.stream.insert(stream),
                // A refusal (an unknown run, a bad token) will not change by retrying.
                Err(e) if e.status().is_some_and(|s| (400..500).contains(&s)) => return Err(e),
                Err(e) if self.failed_connects >= MAX_FAILED_CONNECTS => return Err(e),
                Err(e) => return Ok(Some(StreamItem::Interrupted(e.to_string()))),
            },
        };
        match stream.next().await {
            Ok(Some(event)) => {
                if let Some(id) = &event.id {
                    self.last_id = Some(id.clone());
                }
                if event.event == END_EVENT {
                    self.ended = true;
                    self.stream = None;
                    return Ok(None);
                }
                Ok(Some(StreamItem::Event(event)))
            }
            Ok(None) => {
                self.stream = None;
                Ok(Some(StreamItem::Interrupted(
                    "the server closed the stream".to_owned(),
                )))
            }
            Err(problem) => {
                self.stream = None;
                Ok(Some(StreamItem::Interrupted(problem.to_string())))
            }
        }
    }

    /// Opens the stream (after a pause, when it is a reconnect), counting failures in a row.
    async fn connect(&mut self) -> Result<EventStream, ApiError> {
        if self.connected_before {
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
        self.connected_before = true;
        let opened = self
            .client
            .events(&self.run_id, self.last_id.as_deref())
            .await;
        self.failed_connects = match opened {
            Ok(_) => 0,
            Err(_) => self.failed_connects + 1,
        };
        opened
    }
}
