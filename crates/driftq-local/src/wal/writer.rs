//! The group-commit writer's handle: numbering records, waiting for them to be
//! durable, and what the writer thread ([`super::write_loop`]) reports back.
//!
//! Records are numbered in the order they are handed over ([`Wal::append`]
//! takes a small lock so numbering and queueing are one step). Request
//! handlers wait for their own number with [`Wal::wait_durable`], so N
//! concurrent producers cost one sync, not N. Each waiter parks a oneshot
//! under its sequence number and the writer completes exactly the ones a sync
//! covered: waking every waiter on every sync (a watch channel) cost dozens
//! of useless task wake-ups per request under load.
//!
//! A failed write or sync fails the requests of that batch (400 with the I/O
//! error, as the real broker answers a failed append) and marks the log
//! *degraded*; the next write tries again, so the broker recovers by itself
//! once the disk has space again. See `write_loop.rs` for what is kept and
//! what is dropped from a failed batch.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::File;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, watch};

use super::write_loop::{self, Queued};
use super::{Record, WalError};

/// Failed sequence ranges remembered for requests that ask after the failure was
/// published (consecutive failures merge, so one outage is one range).
const MAX_FAILED_RANGES: usize = 64;

/// Durability progress published by the writer thread.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Every record with a sequence number ≤ this is on disk, or was dropped by a failed write.
    pub durable: u64,
    /// The last write failed and nothing has been written since: the broker is degraded.
    pub degraded: Option<WalError>,
    /// The writer stopped (shutdown); nothing more becomes durable.
    pub closed: bool,
    /// Produced messages dropped by failed writes so far (see [`Wal::take_dropped`]).
    pub drops: u64,
}

/// Requests waiting for their record to become durable, by sequence number, and the
/// sequence numbers that failed.
#[derive(Default)]
pub(super) struct Waiters {
    progress: Progress,
    waiting: BTreeMap<u64, Vec<oneshot::Sender<Result<(), WalError>>>>,
    /// Inclusive ranges of sequence numbers whose write failed, with the error.
    failed: VecDeque<(u64, u64, WalError)>,
    /// Produced messages dropped by a failed write, not yet taken by the state.
    dropped: BTreeSet<u64>,
}

impl Waiters {
    /// The error of a failed sequence number, if it failed.
    fn failure_of(&self, seq: u64) -> Option<WalError> {
        self.failed
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&seq))
            .map(|(_, _, e)| e.clone())
    }

    /// Remembers a failed range (merged with the previous one when contiguous).
    fn record_failure(&mut self, first: u64, last: u64, err: &WalError) {
        match self.failed.back_mut() {
            Some(prev) if prev.1 + 1 >= first => {
                prev.1 = prev.1.max(last);
                prev.2 = err.clone();
            }
            _ => self.failed.push_back((first, last, err.clone())),
        }
        if self.failed.len() > MAX_FAILED_RANGES {
            self.failed.pop_front();
        }
    }

    /// Takes the waiters up to `upto`, to be completed once the lock is released and
    /// the watch shows the new progress (a client told about a failure must find the
    /// health check already degraded).
    fn take_upto(&mut self, upto: u64) -> Vec<oneshot::Sender<Result<(), WalError>>> {
        let keep = self.waiting.split_off(&(upto + 1));
        std::mem::replace(&mut self.waiting, keep)
            .into_values()
            .flatten()
            .collect()
    }
}

fn complete(waiters: Vec<oneshot::Sender<Result<(), WalError>>>, result: &Result<(), WalError>) {
    for tx in waiters {
        let _ = tx.send(result.clone());
    }
}

/// Handle to the log; cheap to share behind the broker state.
pub struct Wal {
    queue: Mutex<QueueState>,
    progress: watch::Receiver<Progress>,
    waiters: Arc<Mutex<Waiters>>,
}

struct QueueState {
    next_seq: u64,
    tx: Option<mpsc::Sender<Queued>>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").finish_non_exhaustive()
    }
}

impl Wal {
    /// Starts the writer thread on an already opened (and replayed) file.
    pub fn start(file: File, path: &Path) -> Result<Wal, WalError> {
        let (tx, rx) = mpsc::channel();
        let (progress_tx, progress) = watch::channel(Progress::default());
        let waiters = Arc::new(Mutex::new(Waiters::default()));
        let publisher = Publisher {
            watch: progress_tx,
            waiters: Arc::clone(&waiters),
        };
        write_loop::start(file, path, rx, publisher)?;
        Ok(Wal {
            queue: Mutex::new(QueueState {
                next_seq: 1,
                tx: Some(tx),
            }),
            progress,
            waiters,
        })
    }

    /// Queues a record and returns its sequence number (not yet durable).
    pub fn append(&self, record: &Record) -> u64 {
        // A produced message may be dropped if its write fails (the producer hears the
        // error); everything else is retried (see `write_loop.rs`).
        let droppable = matches!(record, Record::Message(m) if m.dlq.is_none());
        let line = record.to_line();
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let seq = queue.next_seq;
        queue.next_seq += 1;
        if let Some(tx) = &queue.tx {
            // A send error means the writer is gone; waiters then see `Closed`.
            let _ = tx.send(Queued {
                seq,
                line,
                droppable,
            });
        }
        seq
    }

    /// Waits until record `seq` (and so every earlier one) is on disk; fails if the
    /// write of `seq` failed. `seq` 0 = nothing to wait for.
    pub async fn wait_durable(&self, seq: u64) -> Result<(), WalError> {
        if seq == 0 {
            return Ok(());
        }
        let rx = {
            let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = w.failure_of(seq) {
                return Err(e);
            }
            if w.progress.durable >= seq {
                return Ok(());
            }
            if w.progress.closed {
                return Err(WalError::Closed);
            }
            let (tx, rx) = oneshot::channel();
            w.waiting.entry(seq).or_default().push(tx);
            rx
        };
        // A dropped sender means the writer thread is gone.
        rx.await.unwrap_or(Err(WalError::Closed))
    }

    /// Fails once the log is closed (shutdown), so that requests can be refused before
    /// they change any in-memory state. A degraded log still takes records: the next
    /// write is the retry.
    pub fn check(&self) -> Result<(), WalError> {
        if self.progress.borrow().closed {
            return Err(WalError::Closed);
        }
        Ok(())
    }

    /// The error of the last write, while no write has succeeded since.
    pub fn degraded(&self) -> Option<WalError> {
        self.progress.borrow().degraded.clone()
    }

    /// The highest durable sequence number right now.
    pub fn durable(&self) -> u64 {
        self.progress.borrow().durable
    }

    /// How many produced messages failed writes have dropped so far (cheap: no lock
    /// shared with the writer), so callers only take the set when it changed.
    pub fn drops(&self) -> u64 {
        self.progress.borrow().drops
    }

    /// Sequence numbers of produced messages whose write failed, since the last call.
    /// Read after [`Wal::durable`]: a drop is always published before any later progress.
    pub fn take_dropped(&self) -> BTreeSet<u64> {
        let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut w.dropped)
    }

    /// A receiver that changes whenever more records become durable (or fail).
    pub fn subscribe(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }

    /// Stops accepting records; the writer thread exits after the queued ones.
    pub fn close(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).tx = None;
    }
}

/// The writer thread's way to announce progress: the watch (dispatcher,
/// [`Wal::durable`]) and the parked waiters.
pub(super) struct Publisher {
    watch: watch::Sender<Progress>,
    waiters: Arc<Mutex<Waiters>>,
}

impl Publisher {
    /// Records up to `seq` are on disk; a degraded log is healthy again.
    pub(super) fn durable(&self, seq: u64) {
        let done = {
            let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            w.progress.durable = seq;
            w.progress.degraded = None;
            w.take_upto(seq)
        };
        self.watch.send_modify(|p| {
            p.durable = seq;
            p.degraded = None;
        });
        complete(done, &Ok(()));
    }

    /// The write of `first..=last` failed: its waiters fail, `dropped` messages are gone
    /// for good, and the rest will be retried. `resolved` is the highest sequence number
    /// below which nothing is waiting to be written any more (the new `durable`).
    pub(super) fn failed(
        &self,
        (first, last): (u64, u64),
        dropped: &[u64],
        resolved: u64,
        err: &WalError,
    ) {
        let done = {
            let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            w.record_failure(first, last, err);
            w.dropped.extend(dropped);
            w.progress.degraded = Some(err.clone());
            w.progress.durable = w.progress.durable.max(resolved);
            w.take_upto(last)
        };
        self.watch.send_modify(|p| {
            p.durable = p.durable.max(resolved);
            p.degraded = Some(err.clone());
            p.drops += dropped.len() as u64;
        });
        complete(done, &Err(err.clone()));
    }

    /// True while the last write failed.
    pub(super) fn is_degraded(&self) -> bool {
        self.watch.borrow().degraded.is_some()
    }

    /// The writer stops: records still waiting will never be written, so
    /// their waiters are released (they see [`WalError::Closed`]).
    pub(super) fn closed(&self) {
        let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        w.waiting.clear();
        w.progress.closed = true;
        drop(w);
        self.watch.send_modify(|p| p.closed = true);
    }
}
