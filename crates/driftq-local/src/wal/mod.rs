//! The write-ahead log: an append-only file of JSON lines.
//!
//! * [`record`] — what a line holds.
//! * [`writer`] — the handle to the group-commit writer thread (`write_loop`):
//!   every record is on disk (written and `fdatasync`ed) before the request
//!   that caused it is answered, one sync covers every record that was pending
//!   at that moment, and a failed write is retried by the next one.
//! * [`replay`] — reading the log back at start-up.

pub mod record;
pub mod replay;
mod write_loop;
pub mod writer;

use std::path::PathBuf;
use std::sync::Arc;

pub use record::Record;
pub use writer::Wal;

/// A WAL failure. Cloneable because one failed sync fails every waiter of its batch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WalError {
    /// Opening, writing or syncing the file failed.
    #[error("wal {}: {source}", path.display())]
    Io {
        /// The WAL path.
        path: PathBuf,
        /// The underlying error.
        source: Arc<std::io::Error>,
    },
    /// A line in the middle of the log is not a valid record.
    #[error("wal {}: line {line} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The WAL path.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The writer has stopped (the broker is shutting down).
    #[error("wal closed")]
    Closed,
}

impl WalError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        WalError::Io {
            path: path.to_path_buf(),
            source: Arc::new(source),
        }
    }
}
