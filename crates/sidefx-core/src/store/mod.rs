//! The SQLite store: side-effect claims, the durable run registry and its outbox, the retry
//! outbox and the dead-letter archive.
//!
//! All SQL of the project lives in this module. Claims are decided by constraints and fenced
//! updates inside SQLite, never by reading a row and deciding in Rust (see `effects.rs`).

mod columns;
mod dead_letter_actions;
mod dead_letters;
mod effect_rows;
mod effects;
mod redrive;
mod retries;
mod run_history;
mod run_list;
mod run_outbox;
mod runs;
mod schema;
mod verify_queries;
mod writer;

#[cfg(test)]
mod query_plans;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;

pub use dead_letter_actions::{Discard, Redrive, RedriveRefused};
pub use effect_rows::{EffectRow, EffectStatus};
pub use effects::{Claim, MarkDone, NewClaim};
pub use retries::{NewRetry, ScheduledRetry};
pub use run_history::RecordedEvent;
pub use run_list::{BadCursor, RunCursor, RunFilter, RunPage};
pub use run_outbox::PendingRun;
pub use runs::{CreateRun, NewRun, RunRow, RunStatus};
pub use verify_queries::{Offenders, StepEffects, UnfinishedRun};

use crate::ids::RunId;

/// Everything that can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused or failed (includes rows whose values fail the id checks).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database's parent directory could not be created.
    #[error("creating directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file was written by a newer version of this schema; refusing to touch it.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    UnsupportedSchema {
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A new run's id is already taken by another run (run ids are random, so: a caller bug).
    #[error("run id {0} already exists")]
    DuplicateRunId(RunId),
    /// A stored JSON document could not be written or read back.
    #[error("stored JSON: {0}")]
    Encode(#[source] serde_json::Error),
    /// The blocking task running the query panicked or was cancelled.
    #[error("store task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The write itself succeeded, but the transaction it was committed in (together with
    /// other concurrent writes) failed, so it did not happen.
    #[error("write rolled back with its group commit: {0}")]
    GroupRolledBack(#[source] Arc<rusqlite::Error>),
    /// The write panicked (a bug); its changes were rolled back.
    #[error("store write panicked")]
    WritePanicked,
    /// The writer thread is gone (it could not start, or the store is being dropped).
    #[error("store writer thread stopped")]
    WriterStopped,
    /// The writer thread could not be started.
    #[error("starting the store writer thread: {0}")]
    StartWriter(#[source] std::io::Error),
}

/// A handle to the database; cheap to clone (an `Arc` inside).
///
/// Two connections. Writes go to the writer thread, which commits concurrent writes as one
/// transaction (group commit, see `writer.rs`): with `synchronous = FULL` the fsync per
/// COMMIT is the cost, so sharing it is what lets throughput grow with concurrency. Reads
/// use the second connection behind a `std::sync::Mutex` from `spawn_blocking`; in WAL mode
/// they never wait for the writer's fsync. Other processes (the API and the worker share the
/// file) are coordinated by SQLite's file locks and `busy_timeout`.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    /// The read connection.
    conn: Mutex<Connection>,
    writer: writer::Writer,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and its parent directories, sets the
    /// connection pragmas and brings the schema to the current version.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        let path = path.to_path_buf();
        let opened = path.clone();
        let (write_conn, conn) = tokio::task::spawn_blocking(move || {
            // The first open migrates the schema; the second finds it current.
            Ok::<_, StoreError>((
                schema::open_connection(&opened)?,
                schema::open_connection(&opened)?,
            ))
        })
        .await??;
        let writer = writer::Writer::start(write_conn).map_err(StoreError::StartWriter)?;
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                conn: Mutex::new(conn),
                writer,
            }),
        })
    }

    /// The database file this store was opened on.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs the write `f` in the writer's next group commit and returns its result once that
    /// commit is durable. `f` runs inside a `BEGIN IMMEDIATE` transaction (its own SAVEPOINT),
    /// so its statements see one consistent state and need no transaction of their own.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner.writer.write(f).await
    }

    /// Runs the read `f` with the read connection on the blocking thread pool.
    ///
    /// A poisoned mutex is recovered rather than propagated: the only way to poison it is a
    /// panic inside `f`, and any transaction `f` had open was rolled back when it unwound.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await?
    }
}

/// Converts a `Duration` to whole milliseconds for SQL arithmetic, saturating.
fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
