//! The retry outbox: delayed retries that survive a crash without holding a DriftQ in-flight
//! slot. The worker stores the retry command here, acks the failed one, and publishes the
//! retry when it is due; the broker's idempotency key makes a repeated publish harmless.

use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError};
use crate::ids::RunId;
use crate::messages::{Command, RunCommand, now_ms};

/// A retry to schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRetry {
    /// The retry command's idempotency key (`cmd:<run>:<step>:<key>:a<n>`); scheduling the
    /// same key twice is a no-op.
    pub key: String,
    /// The run, for debugging.
    pub run_id: RunId,
    /// When to publish it (ms since the epoch).
    pub due_ms: i64,
    /// The retry command as JSON (`{"type":"run.command",...}`).
    pub command_json: String,
}

impl NewRetry {
    /// The outbox entry for `cmd` (already the next attempt), due at `due_ms`.
    pub fn for_command(cmd: &RunCommand, due_ms: i64) -> serde_json::Result<Self> {
        Ok(Self {
            key: cmd.idempotency_key(),
            run_id: cmd.run_id.clone(),
            due_ms,
            command_json: serde_json::to_string(&Command::Run(cmd.clone()))?,
        })
    }
}

/// A retry waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledRetry {
    /// The command's idempotency key; pass it to [`Store::retry_published`].
    pub key: String,
    /// The run.
    pub run_id: RunId,
    /// When it is due (ms since the epoch).
    pub due_ms: i64,
    /// The command as JSON.
    pub command_json: String,
}

impl ScheduledRetry {
    /// Decodes the stored command.
    pub fn command(&self) -> serde_json::Result<Command> {
        serde_json::from_str(&self.command_json)
    }
}

/// Scheduling is idempotent: a worker that crashes after storing the retry but before acking
/// the failed command gets it redelivered and stores the same key again, which does nothing.
pub(super) const INSERT_RETRY: &str = "
INSERT INTO retry_outbox (key, run_id, due_ms, command_json, created_ms)
VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (key) DO NOTHING";

pub(super) const SELECT_DUE: &str = "
SELECT key, run_id, due_ms, command_json FROM retry_outbox
 WHERE due_ms <= ?1 ORDER BY due_ms, key LIMIT ?2";

/// A retry published (or found to be owed no more).
pub(super) const DELETE_RETRY: &str = "DELETE FROM retry_outbox WHERE key = ?1";

impl Store {
    /// Stores a retry to publish at `r.due_ms`; a no-op if its key is already stored.
    pub async fn schedule_retry(&self, r: NewRetry) -> Result<(), StoreError> {
        self.write(move |conn| {
            let args = params![r.key, r.run_id, r.due_ms, r.command_json, now_ms()];
            conn.prepare_cached(INSERT_RETRY)?.execute(args)?;
            Ok(())
        })
        .await
    }

    /// Retries due at `now_ms`, earliest first.
    pub async fn due_retries(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<ScheduledRetry>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(SELECT_DUE)?;
            let rows = stmt.query_map(params![now_ms, limit], retry_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// When the earliest stored retry is due, if any (to know how long to sleep).
    pub async fn next_retry_due_ms(&self) -> Result<Option<i64>, StoreError> {
        self.call(|conn| {
            let sql = "SELECT MIN(due_ms) FROM retry_outbox";
            let due = conn
                .prepare_cached(sql)?
                .query_row([], |r| r.get(0))
                .optional()?;
            Ok(due.flatten())
        })
        .await
    }

    /// Removes a retry once DriftQ accepted it. Call only after the publish succeeded: a
    /// crash in between republishes it, which the broker deduplicates by its key.
    pub async fn retry_published(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |conn| {
            conn.prepare_cached(DELETE_RETRY)?.execute([key])?;
            Ok(())
        })
        .await
    }
}

fn retry_row(r: &Row<'_>) -> rusqlite::Result<ScheduledRetry> {
    Ok(ScheduledRetry {
        key: r.get(0)?,
        run_id: r.get(1)?,
        due_ms: r.get(2)?,
        command_json: r.get(3)?,
    })
}
