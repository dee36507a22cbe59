//! How much one consume stream may have queued toward its connection.
//!
//! Items are handed to a stream through a channel that the response body
//! drains as the socket takes them. A client that stops reading fills its
//! socket buffers, hyper stops draining, and without a bound every delivery
//! and redelivery (with a short lease: every tick) would pile up in memory.
//! Past [`crate::Limits::max_stream_buffer_bytes`] the stream is cut off: it
//! takes no more items and its connection is closed. Its in-flight messages
//! keep their owner and come back by lease expiry, like after any disconnect
//! (§3.5), so another consumer of the group gets them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::watch;

/// Closes one HTTP connection when fired (given to each request by `http::conn`).
#[derive(Debug, Clone)]
pub struct Disconnect(Arc<watch::Sender<bool>>);

impl Disconnect {
    /// A new handle and the receiver the connection task waits on.
    pub fn new() -> (Disconnect, watch::Receiver<bool>) {
        let (tx, rx) = watch::channel(false);
        (Disconnect(Arc::new(tx)), rx)
    }

    /// Asks the connection task to drop the connection.
    pub fn fire(&self) {
        self.0.send_replace(true);
    }
}

/// The queued bytes of one stream, its bound, and what to cut off when it is exceeded.
#[derive(Debug)]
pub struct StreamBudget {
    queued: AtomicUsize,
    limit: usize,
    overflowed: AtomicBool,
    disconnect: Option<Disconnect>,
    /// `topic`, `group`, `owner`, for the log line.
    names: (String, String, String),
}

impl StreamBudget {
    /// A budget of `limit` bytes for the stream of `owner` in `topic`/`group`.
    pub fn new(
        limit: usize,
        disconnect: Option<Disconnect>,
        names: (String, String, String),
    ) -> Arc<Self> {
        Arc::new(StreamBudget {
            queued: AtomicUsize::new(0),
            limit: limit.max(1),
            overflowed: AtomicBool::new(false),
            disconnect,
            names,
        })
    }

    /// Takes `bytes` for an item about to be queued; false (and the stream cut off)
    /// when that would exceed the bound. An empty queue always takes one item, so a
    /// single item larger than the bound still gets through to a reading client.
    pub fn reserve(&self, bytes: usize) -> bool {
        if self.is_overflowed() {
            return false;
        }
        let before = self.queued.fetch_add(bytes, Ordering::AcqRel);
        if before == 0 || before + bytes <= self.limit {
            return true;
        }
        self.queued.fetch_sub(bytes, Ordering::AcqRel);
        self.overflow(before);
        false
    }

    /// The response body took an item of `bytes` off the queue.
    pub fn release(&self, bytes: usize) {
        self.queued.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// True once the stream was cut off.
    pub fn is_overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }

    fn overflow(&self, queued: usize) {
        if self.overflowed.swap(true, Ordering::AcqRel) {
            return;
        }
        let (topic, group, owner) = &self.names;
        tracing::warn!(%topic, %group, %owner, queued_bytes = queued, limit = self.limit,
            "consume stream is not reading; closing it (its messages come back after their lease)");
        if let Some(disconnect) = &self.disconnect {
            disconnect.fire();
        }
    }
}
