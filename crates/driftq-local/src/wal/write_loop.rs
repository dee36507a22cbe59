//! The writer thread: group commit, and recovery from failed writes.
//!
//! A dedicated OS thread (the syncs block) takes the first queued record,
//! drains every other record already queued, writes them all with one `write`,
//! calls `fdatasync` once and publishes the highest durable sequence number.
//!
//! When a write or sync fails (a full disk, an I/O error) the file is cut back
//! to its last synced length, so a half-written line never stays in front of
//! later records, and the batch's requests are answered with the error. What
//! happens to the batch's records:
//!
//! * a **produced message** is dropped: its producer was told it failed, and
//!   the state skips it at dispatch, so it is never delivered;
//! * everything else (commits, retry state, consume keys, DLQ copies) is kept
//!   and written again in front of the next batch: the in-memory state already
//!   reflects it, and dropping it would let memory and disk disagree.
//!
//! The next record is the retry; with only kept records waiting, the thread
//! also retries on its own every [`RETRY_INTERVAL`]. The first write that
//! succeeds ends the degraded state.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use super::WalError;
use super::writer::Publisher;

/// At most this many bytes go into one write+sync, to bound latency of the first waiter.
const MAX_BATCH_BYTES: usize = 4 << 20;

/// How often kept records of a failed write are retried when nothing new arrives.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// One record on its way to the writer thread.
#[derive(Debug)]
pub(super) struct Queued {
    /// Sequence number.
    pub seq: u64,
    /// The JSON line, `\n` included.
    pub line: Vec<u8>,
    /// True for produced messages: dropped (not retried) when their write fails.
    pub droppable: bool,
}

/// Starts the writer thread.
pub(super) fn start(
    file: File,
    path: &Path,
    rx: mpsc::Receiver<Queued>,
    publisher: Publisher,
) -> Result<(), WalError> {
    let good_len = file.metadata().map_err(|e| WalError::io(path, e))?.len();
    let mut writer = Writer {
        file,
        path: path.to_path_buf(),
        good_len,
        torn: false,
        retry: Vec::new(),
        buf: Vec::with_capacity(64 * 1024),
        publisher,
    };
    std::thread::Builder::new()
        .name("driftq-wal".to_owned())
        .spawn(move || writer.run(&rx))
        .map(|_| ())
        .map_err(|e| WalError::io(Path::new("wal writer thread"), e))
}

struct Writer {
    file: File,
    path: PathBuf,
    /// File length after the last successful sync.
    good_len: u64,
    /// A failed write may have left bytes after `good_len` that could not be cut yet.
    torn: bool,
    /// Records of failed writes to write again, oldest first.
    retry: Vec<Queued>,
    buf: Vec<u8>,
    publisher: Publisher,
}

impl Writer {
    fn run(&mut self, rx: &mpsc::Receiver<Queued>) {
        loop {
            let first = if self.retry.is_empty() {
                match rx.recv() {
                    Ok(q) => Some(q),
                    Err(_) => break,
                }
            } else {
                match rx.recv_timeout(RETRY_INTERVAL) {
                    Ok(q) => Some(q),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            let mut batch = std::mem::take(&mut self.retry);
            batch.extend(first);
            let mut bytes: usize = batch.iter().map(|q| q.line.len()).sum();
            while bytes < MAX_BATCH_BYTES {
                let Ok(q) = rx.try_recv() else { break };
                bytes += q.line.len();
                batch.push(q);
            }
            self.write(batch);
        }
        self.publisher.closed();
    }

    /// Writes and syncs one batch, or handles its failure.
    fn write(&mut self, batch: Vec<Queued>) {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return;
        };
        let range = (first.seq, last.seq);
        self.buf.clear();
        for q in &batch {
            self.buf.extend_from_slice(&q.line);
        }
        let result = self.cut_torn_tail().and_then(|()| {
            self.file.write_all(&self.buf)?;
            self.file.sync_data()
        });
        match result {
            Ok(()) => {
                self.good_len += self.buf.len() as u64;
                if self.publisher.is_degraded() {
                    tracing::info!(wal = %self.path.display(), "wal writes succeed again; recovered");
                }
                self.publisher.durable(range.1);
            }
            Err(e) => self.failed(batch, range, &WalError::io(&self.path, e)),
        }
    }

    /// Cuts the file back to its last synced length after a failed write.
    fn cut_torn_tail(&mut self) -> std::io::Result<()> {
        if self.torn {
            // The file is opened for appending, so the next write lands at the new end.
            self.file.set_len(self.good_len)?;
            self.torn = false;
        }
        Ok(())
    }

    fn failed(&mut self, batch: Vec<Queued>, range: (u64, u64), err: &WalError) {
        tracing::error!(error = %err, records = batch.len(),
            "wal append failed; answering its requests with the error, retrying on the next write");
        self.torn = true;
        if let Err(e) = self.cut_torn_tail() {
            tracing::warn!(error = %e, "cannot cut the wal back yet; retrying before the next write");
        }
        let (dropped, kept): (Vec<Queued>, Vec<Queued>) =
            batch.into_iter().partition(|q| q.droppable);
        let dropped: Vec<u64> = dropped.iter().map(|q| q.seq).collect();
        // Everything below the first kept record is settled (on disk or dropped).
        let resolved = kept.first().map_or(range.1, |q| q.seq - 1);
        self.publisher.failed(range, &dropped, resolved, err);
        self.retry = kept;
    }
}
