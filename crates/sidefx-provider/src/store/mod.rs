//! The provider's durable state in one SQLite file: idempotency keys with their stored
//! answers, charges, and request counts. All SQL lives here (`schema`, `queries`); this file
//! is the async handle that runs it off the runtime.

mod queries;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

use crate::clock::Clock;
use crate::wire::{Charge, Ledger};

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database's directory could not be created.
    #[error("creating {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file has a schema version this build does not know.
    #[error("unknown schema version {0} (this build knows 1)")]
    UnknownSchema(i64),
    /// A stored value does not decode (the file was edited by hand?).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The blocking task running the query panicked or was cancelled.
    #[error("store task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The answer stored under an idempotency key, replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// What the key was first used with (amount, currency, reference).
    pub fingerprint: String,
    /// HTTP status of the first answer (200 or 402).
    pub status: u16,
    /// JSON body of the first answer.
    pub body: String,
}

/// What one execution commits together with its key.
#[derive(Debug, Clone)]
pub enum Execution {
    /// A succeeded charge, recorded in the ledger.
    Charge(Charge),
    /// A decline: stored under the key, counted, but not a charge.
    Decline,
}

/// Result of [`Store::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commit {
    /// The key, its answer and the execution were written in one transaction.
    Committed,
    /// Another request committed this key first; nothing was written. Answer with this.
    AlreadyStored(StoredResponse),
}

/// Cheap clonable handle: one connection behind a mutex (SQLite serialises writers anyway).
#[derive(Debug, Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    retention: Duration,
    clock: Clock,
}

impl Store {
    /// Opens (creating it and its directory if needed) the database at `path`. Keys are
    /// retained for `retention`, measured on `clock`.
    pub async fn open(path: &Path, retention: Duration, clock: Clock) -> Result<Self, StoreError> {
        let path = path.to_owned();
        let conn = tokio::task::spawn_blocking(move || schema::open(&path)).await??;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            retention,
            clock,
        })
    }

    /// The clock the store measures retention and creation times on.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Counts one `POST /v1/charges` carrying `key`.
    pub async fn record_request(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.run(move |conn| queries::record_request(conn, &key))
            .await
    }

    /// The answer stored under `key`, unless there is none or it is past retention.
    pub async fn lookup(&self, key: &str) -> Result<Option<StoredResponse>, StoreError> {
        let key = key.to_owned();
        let cutoff = self.cutoff_millis();
        self.run(move |conn| queries::lookup(conn, &key, cutoff))
            .await
    }

    /// Stores `response` under `key` and records `execution`, in ONE transaction: a crash
    /// leaves either both (a replay answers it) or neither (a retry executes for real).
    /// `hold` is dropped only after the transaction ended, so a concurrent request cannot
    /// execute the same key while this commit is still running.
    pub async fn commit<G: Send + 'static>(
        &self,
        key: &str,
        response: StoredResponse,
        execution: Execution,
        hold: G,
    ) -> Result<Commit, StoreError> {
        let key = key.to_owned();
        let (now, cutoff) = (self.clock.now_millis(), self.cutoff_millis());
        self.run(move |conn| {
            let result = queries::commit(conn, &key, &response, &execution, now, cutoff);
            drop(hold);
            result
        })
        .await
    }

    /// The succeeded charges for `reference`, oldest first.
    pub async fn list_charges(&self, reference: &str) -> Result<Vec<Charge>, StoreError> {
        let reference = reference.to_owned();
        self.run(move |conn| queries::list_charges(conn, &reference))
            .await
    }

    /// The ledger (without `in_flight`, which lives in memory).
    pub async fn ledger(&self) -> Result<Ledger, StoreError> {
        self.run(queries::ledger).await
    }

    /// Forgets every key, charge and count.
    pub async fn reset(&self) -> Result<(), StoreError> {
        self.run(queries::reset).await
    }

    /// Keys stored at or before this instant (Unix ms) are past retention.
    fn cutoff_millis(&self) -> i64 {
        let retention = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        self.clock.now_millis().saturating_sub(retention)
    }

    /// Runs `f` on the connection in the blocking pool, off the async runtime.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await?
    }
}
