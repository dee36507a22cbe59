//! The live side of the runs' history: one poller of the store for every open event stream.
//!
//! Events are recorded in the store (see `sidefx_core`'s `run_history.rs`) by whichever
//! process emits them, the worker mostly. While at least one viewer is subscribed, this API
//! process reads what was recorded since its last look, every [`POLL_INTERVAL`], and hands it
//! to every subscriber over a broadcast channel; each viewer keeps the events of its run. So
//! the store sees one small indexed query per interval however many viewers are open, and
//! none when nobody watches.
//!
//! Nothing is missed between a viewer's replay and its live part: [`HistoryFeed::subscribe`]
//! fixes the feed's cursor (the newest `seq` committed) before the viewer replays from the
//! store, so every event above the cursor comes through the channel and every event at or
//! below it is in the store when the replay reads it. A viewer that falls too far behind
//! (the channel drops the oldest events for it) replays from the store again.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use sidefx_core::{RecordedEvent, Store, StoreError};
use tokio::sync::{Mutex, broadcast};

/// How often the store is polled while someone watches: the most a live event waits.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Events read per query; more are read at once when there are more.
const BATCH: u32 = 1000;
/// Events a slow viewer may have unread before it replays from the store instead.
const CHANNEL_CAPACITY: usize = 4096;

/// Handle to the feed; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct HistoryFeed {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    sender: broadcast::Sender<Arc<RecordedEvent>>,
    /// The newest `seq` handed out, while someone watches; `None` while nobody does.
    cursor: Mutex<Option<i64>>,
    /// Started by the first subscriber; ends when the last handle is dropped.
    poller: OnceLock<()>,
}

impl HistoryFeed {
    pub(crate) fn new(store: Store) -> Self {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        HistoryFeed {
            inner: Arc::new(Inner {
                store,
                sender,
                cursor: Mutex::new(None),
                poller: OnceLock::new(),
            }),
        }
    }

    /// A receiver of every event recorded from now on (of every run). Subscribe before
    /// reading the store's history, then take from the receiver only events above what the
    /// history gave.
    pub(crate) async fn subscribe(
        &self,
    ) -> Result<broadcast::Receiver<Arc<RecordedEvent>>, StoreError> {
        self.inner.poller.get_or_init(|| {
            tokio::spawn(poll(Arc::downgrade(&self.inner)));
        });
        let mut cursor = self.inner.cursor.lock().await;
        if cursor.is_none() {
            *cursor = Some(self.inner.store.last_event_seq().await?);
        }
        Ok(self.inner.sender.subscribe())
    }
}

/// Polls until the feed is dropped.
async fn poll(feed: Weak<Inner>) {
    let mut interval = tokio::time::interval(POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(inner) = feed.upgrade() else { return };
        inner.poll_once().await;
    }
}

impl Inner {
    async fn poll_once(&self) {
        let mut cursor = self.cursor.lock().await;
        if self.sender.receiver_count() == 0 {
            // Nobody watches: stop reading; the next subscriber fixes a new cursor.
            *cursor = None;
            return;
        }
        let Some(mut after) = *cursor else { return };
        loop {
            let events = match self.store.events_since(after, BATCH).await {
                Ok(events) => events,
                Err(err) => {
                    // The viewers wait; the next poll tries again.
                    tracing::warn!(error = %err, "reading new run events failed");
                    break;
                }
            };
            let full = events.len() == BATCH as usize;
            for event in events {
                after = event.seq;
                // No receiver left is fine: the next poll sees it and stops.
                let _ = self.sender.send(Arc::new(event));
            }
            if !full {
                break;
            }
        }
        *cursor = Some(after);
    }
}
