//! One viewer's stream of a run's events: the run's recorded history first, then its new
//! events as they are recorded, until the run's story ends.
//!
//! Every frame carries `id: <seq>` (so a reconnecting `EventSource` resumes with
//! `Last-Event-ID`) and `event: <type>`. The stream ends after the run's terminal event
//! (`run.completed`, `run.dlq`, `run.discarded`) with a last `sse.end` frame, when that event
//! is the newest of the run's history: a dead letter an operator redrove later is followed by
//! more, and a replay goes on through them. Viewers share nothing: each reads the store for
//! its replay and takes its run's events from the feed (see `history_feed.rs`), so any number
//! of them see every event and none leaves state behind on the broker.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::Event as SseEvent;
use futures::{Stream, stream};
use serde::Serialize;
use sidefx_core::{RecordedEvent, RunId, Store};
use tokio::sync::broadcast::{self, error::RecvError};

/// Events read from the store per replay query.
const REPLAY_PAGE: u32 = 500;

/// The first frame of every stream, as the original sent it (now also named by `event:`).
#[derive(Debug, Serialize)]
struct Marker<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    run_id: &'a RunId,
    /// On `sse.end`: the `seq` of the last event sent (absent on `sse.connected`).
    #[serde(skip_serializing_if = "Option::is_none")]
    last_event_id: Option<i64>,
}

/// Where the viewer starts and what is known of the run when it connected.
#[derive(Debug, Clone)]
pub(crate) struct ViewerStart {
    /// The run.
    pub run_id: RunId,
    /// Events up to this `seq` were seen already (`Last-Event-ID`; 0 for all of them).
    pub after: i64,
    /// The run was final when the viewer connected: a run without a recorded history (from
    /// before the history existed) ends the stream once the replay found nothing to send.
    pub run_was_final: bool,
}

/// `sse.connected`, the history after `start.after`, then live events, then `sse.end`.
/// `live` must have been subscribed before this is called (see `HistoryFeed::subscribe`).
pub(crate) fn run_event_stream(
    store: Store,
    live: broadcast::Receiver<Arc<RecordedEvent>>,
    start: ViewerStart,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send + use<> {
    let connected = marker("sse.connected", &start.run_id, None);
    let viewer = Viewer {
        store,
        live,
        last: start.after,
        run_was_final: start.run_was_final,
        run_id: start.run_id,
        queue: VecDeque::new(),
        replaying: true,
        sent_any: false,
        last_was_terminal: false,
        ended: false,
    };
    let events = stream::unfold(viewer, |mut viewer| async move {
        let frame = viewer.next_frame().await?;
        Some((Ok(frame), viewer))
    });
    futures::StreamExt::chain(stream::once(async move { Ok(connected) }), events)
}

struct Viewer {
    store: Store,
    live: broadcast::Receiver<Arc<RecordedEvent>>,
    run_id: RunId,
    /// The `seq` of the last event sent (or the viewer's `Last-Event-ID`).
    last: i64,
    run_was_final: bool,
    /// Events read and not sent yet, in order.
    queue: VecDeque<Arc<RecordedEvent>>,
    /// Reading the store rather than the feed (at the start, and after falling behind).
    replaying: bool,
    sent_any: bool,
    last_was_terminal: bool,
    ended: bool,
}

impl Viewer {
    /// The next frame; `None` ends the stream.
    async fn next_frame(&mut self) -> Option<SseEvent> {
        loop {
            if self.ended {
                return None;
            }
            if let Some(event) = self.queue.pop_front() {
                self.last = event.seq;
                self.sent_any = true;
                self.last_was_terminal = event.is_terminal();
                return Some(frame(&event));
            }
            // Everything read was sent: is the story over?
            if !self.replaying && (self.last_was_terminal || (!self.sent_any && self.run_was_final))
            {
                self.ended = true;
                return Some(marker("sse.end", &self.run_id, Some(self.last)));
            }
            if self.replaying {
                self.replay_page().await?;
            } else {
                self.follow().await?;
            }
        }
    }

    /// The next page of the run's history after `last`; the replay is over at a short page.
    async fn replay_page(&mut self) -> Option<()> {
        match self
            .store
            .run_history(&self.run_id, self.last, REPLAY_PAGE)
            .await
        {
            Ok(page) => {
                self.replaying = page.len() == REPLAY_PAGE as usize;
                self.queue.extend(page.into_iter().map(Arc::new));
                Some(())
            }
            Err(err) => {
                // The client reconnects with Last-Event-ID and loses nothing.
                tracing::warn!(run_id = %self.run_id, error = %err, "reading a run's history failed; ending its stream");
                None
            }
        }
    }

    /// Waits for the run's next live event.
    async fn follow(&mut self) -> Option<()> {
        loop {
            match self.live.recv().await {
                Ok(event) => {
                    if event.seq > self.last && event.run_id == self.run_id.as_str() {
                        self.queue.push_back(event);
                        return Some(());
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(run_id = %self.run_id, missed, "viewer fell behind the feed; replaying from the store");
                    self.replaying = true;
                    return Some(());
                }
                // The feed is gone (the API is stopping).
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// `id: <seq>`, `event: <type>`, `data: <the event as recorded>`.
fn frame(event: &RecordedEvent) -> SseEvent {
    SseEvent::default()
        .id(event.seq.to_string())
        .event(&event.kind)
        .data(&event.json)
}

fn marker(kind: &'static str, run_id: &RunId, last_event_id: Option<i64>) -> SseEvent {
    let body = Marker {
        kind,
        run_id,
        last_event_id,
    };
    // Serializing this struct cannot fail; an empty data line would be the fallback.
    let data = serde_json::to_string(&body).unwrap_or_default();
    SseEvent::default().event(kind).data(data)
}
