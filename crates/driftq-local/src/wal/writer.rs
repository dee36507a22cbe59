//! The group-commit writer.
//!
//! Records are numbered in the order they are handed over ([`Wal::append`]
//! takes a small lock so numbering and queueing are one step). A dedicated OS
//! thread — the syncs block — takes the first pending record, drains every
//! other record already queued, writes them all with one `write`, calls
//! `fdatasync` once and then publishes the highest durable sequence number.
//! Request handlers wait for their own number with [`Wal::wait_durable`], so N
//! concurrent producers cost one sync, not N. Each waiter parks a oneshot
//! under its sequence number and the writer completes exactly the ones a sync
//! covered: waking every waiter on every sync (a watch channel) cost dozens
//! of useless task wake-ups per request under load.
//!
//! A failed write or sync is sticky: the log may now have a hole, so every
//! later record fails too and the broker answers 400 with the I/O error (the
//! real broker also turns a failed append into a 400).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, watch};

use super::{Record, WalError};

/// At most this many bytes go into one write+sync, to bound latency of the first waiter.
const MAX_BATCH_BYTES: usize = 4 << 20;

/// Durability progress published by the writer thread.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Every record with a sequence number ≤ this is on disk.
    pub durable: u64,
    /// Set once a write or sync failed; nothing after `durable` will become durable.
    pub failed: Option<WalError>,
}

struct Queue {
    next_seq: u64,
    tx: Option<mpsc::Sender<(u64, Vec<u8>)>>,
}

/// Requests waiting for their record to become durable, by sequence number.
#[derive(Default)]
struct Waiters {
    progress: Progress,
    waiting: BTreeMap<u64, Vec<oneshot::Sender<Result<(), WalError>>>>,
}

impl Waiters {
    /// Completes every waiter covered by the new progress.
    fn publish(waiters: &Mutex<Waiters>, update: impl FnOnce(&mut Progress)) {
        let done = {
            let mut w = waiters.lock().unwrap_or_else(|e| e.into_inner());
            update(&mut w.progress);
            let first_pending = w.progress.durable + 1;
            let keep = if w.progress.failed.is_some() {
                BTreeMap::new()
            } else {
                w.waiting.split_off(&first_pending)
            };
            let result = w.progress.failed.clone().map_or(Ok(()), Err);
            (std::mem::replace(&mut w.waiting, keep), result)
        };
        let (done, result) = done;
        for tx in done.into_values().flatten() {
            let _ = tx.send(result.clone());
        }
    }
}

/// Handle to the log; cheap to share behind the broker state.
pub struct Wal {
    queue: Mutex<Queue>,
    progress: watch::Receiver<Progress>,
    waiters: Arc<Mutex<Waiters>>,
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
        let path = path.to_path_buf();
        let writer = Publisher {
            watch: progress_tx,
            waiters: Arc::clone(&waiters),
        };
        std::thread::Builder::new()
            .name("driftq-wal".to_owned())
            .spawn(move || write_loop(file, &path, &rx, &writer))
            .map_err(|e| WalError::io(Path::new("wal writer thread"), e))?;
        Ok(Wal {
            queue: Mutex::new(Queue {
                next_seq: 1,
                tx: Some(tx),
            }),
            progress,
            waiters,
        })
    }

    /// Queues a record and returns its sequence number (not yet durable).
    pub fn append(&self, record: &Record) -> u64 {
        let line = record.to_line();
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let seq = queue.next_seq;
        queue.next_seq += 1;
        if let Some(tx) = &queue.tx {
            // A send error means the writer is gone; waiters then see `Closed`.
            let _ = tx.send((seq, line));
        }
        seq
    }

    /// Waits until record `seq` (and so every earlier one) is on disk. `seq` 0 = nothing to wait for.
    pub async fn wait_durable(&self, seq: u64) -> Result<(), WalError> {
        if seq == 0 {
            return Ok(());
        }
        let rx = {
            let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            if w.progress.durable >= seq {
                return Ok(());
            }
            if let Some(e) = &w.progress.failed {
                return Err(e.clone());
            }
            let (tx, rx) = oneshot::channel();
            w.waiting.entry(seq).or_default().push(tx);
            rx
        };
        // A dropped sender means the writer thread is gone.
        rx.await.unwrap_or(Err(WalError::Closed))
    }

    /// Fails once a write or sync has failed, so that requests can be refused
    /// before they change any in-memory state.
    pub fn check(&self) -> Result<(), WalError> {
        match &self.progress.borrow().failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// The highest durable sequence number right now.
    pub fn durable(&self) -> u64 {
        self.progress.borrow().durable
    }

    /// A receiver that changes whenever more records become durable.
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
struct Publisher {
    watch: watch::Sender<Progress>,
    waiters: Arc<Mutex<Waiters>>,
}

impl Publisher {
    fn durable(&self, seq: u64) {
        Waiters::publish(&self.waiters, |p| p.durable = seq);
        self.watch.send_modify(|p| p.durable = seq);
    }

    /// The writer stops: records still waiting will never be written, so
    /// their waiters are released (they see [`WalError::Closed`]).
    fn closed(&self) {
        let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        w.waiting.clear();
        // Later waiters must not park forever either.
        w.progress.failed.get_or_insert(WalError::Closed);
    }

    fn failed(&self, err: &WalError) {
        Waiters::publish(&self.waiters, |p| p.failed = Some(err.clone()));
        self.watch.send_modify(|p| p.failed = Some(err.clone()));
    }
}

fn write_loop(
    mut file: File,
    path: &Path,
    rx: &mpsc::Receiver<(u64, Vec<u8>)>,
    progress: &Publisher,
) {
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut failed: Option<WalError> = None;
    while let Ok((first_seq, line)) = rx.recv() {
        buf.clear();
        buf.extend_from_slice(&line);
        let mut last_seq = first_seq;
        while buf.len() < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok((seq, line)) => {
                    buf.extend_from_slice(&line);
                    last_seq = seq;
                }
                Err(_) => break,
            }
        }
        if failed.is_some() {
            continue;
        }
        match file.write_all(&buf).and_then(|()| file.sync_data()) {
            Ok(()) => progress.durable(last_seq),
            Err(e) => {
                let err = WalError::io(path, e);
                tracing::error!(error = %err, "wal append failed; refusing further writes");
                progress.failed(&err);
                failed = Some(err);
            }
        }
    }
    progress.closed();
}
