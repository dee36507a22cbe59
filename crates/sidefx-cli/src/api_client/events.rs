//! `GET /runs/{id}/events` as a stream of server-sent events: the bytes of the response are
//! fed to the SSE parser (`src/sse.rs`), which keeps a partial event across chunks.

use std::collections::VecDeque;

use super::error::{Problem, describe};
use crate::sse::{SseEvent, SseParser};

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
