//! The run outbox: a run's first messages (`run.created`, its first command,
//! `command.enqueued`) are owed to the broker from the moment its row commits. `create_run`
//! inserts the outbox row in the same transaction as the run, so `POST /runs` can answer as
//! soon as that commit is durable: nothing after it can make the answer wrong. The API's
//! relay then publishes the messages (rebuilt from the run row, byte for byte the same each
//! time, with the same idempotency keys) and removes the row; a crash in between publishes
//! them again, which the broker deduplicates.
//!
//! The row holds no message: the messages are a pure function of the committed run row (its
//! id, request and creation time), so committing the row commits them.

use rusqlite::{Row, params};

use super::runs::{RunRow, run_row};
use super::{Store, StoreError};
use crate::ids::RunId;

/// A run whose first messages are not yet on the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingRun {
    /// The run, as stored.
    pub run: RunRow,
    /// Failed publishes so far.
    pub attempts: u32,
    /// When the relay may try it next (ms since the epoch).
    pub due_ms: i64,
    /// What the last failed publish said, if one failed.
    pub last_error: Option<String>,
}

pub(super) const INSERT_PENDING: &str = "
INSERT INTO run_outbox (run_id, due_ms, attempts, created_ms)
VALUES (?1, ?2, 0, ?3)
ON CONFLICT (run_id) DO NOTHING";

/// Rows held, counted up to the bound only, so the check costs the same however full it is.
pub(super) const COUNT_UP_TO: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM run_outbox LIMIT ?1)";

pub(super) const SELECT_DUE: &str = "
SELECT r.run_id, r.business_key, r.status, r.attempts, r.request_json, r.idempotency_key,
       r.request_fingerprint, r.created_ms, r.updated_ms, r.redrives, r.dlq_redrives,
       r.attempt_budget, o.attempts, o.due_ms, o.last_error
  FROM run_outbox o JOIN runs r ON r.run_id = o.run_id
 WHERE o.due_ms <= ?1
 ORDER BY o.due_ms, o.run_id
 LIMIT ?2";

pub(super) const FAILED: &str = "
UPDATE run_outbox SET attempts = attempts + 1, due_ms = ?2, last_error = ?3
 WHERE run_id = ?1";

/// A published run's row.
pub(super) const CLEAR_PUBLISHED: &str = "DELETE FROM run_outbox WHERE run_id = ?1";

impl Store {
    /// Runs whose messages are due for (another) publish at `now_ms`, earliest first.
    pub async fn due_pending_runs(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<PendingRun>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(SELECT_DUE)?;
            let rows = stmt.query_map(params![now_ms, limit], pending_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Removes the outbox rows of runs whose messages the broker accepted, in one
    /// transaction: the API collects them and clears them in batches, so a run costs its
    /// accepting commit and a share of one more, not two.
    pub async fn runs_published(&self, run_ids: Vec<RunId>) -> Result<(), StoreError> {
        if run_ids.is_empty() {
            return Ok(());
        }
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(CLEAR_PUBLISHED)?;
            for run_id in run_ids {
                stmt.execute([run_id])?;
            }
            Ok(())
        })
        .await
    }

    /// Records a failed publish; the relay tries again at `next_due_ms`.
    pub async fn run_publish_failed(
        &self,
        run_id: &RunId,
        next_due_ms: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        let (run_id, error) = (run_id.clone(), error.to_owned());
        self.write(move |conn| {
            conn.prepare_cached(FAILED)?
                .execute(params![run_id, next_due_ms, error])?;
            Ok(())
        })
        .await
    }

    /// Runs waiting in the outbox (for `/healthz` and the metrics).
    pub async fn pending_run_count(&self) -> Result<u64, StoreError> {
        self.call(|conn| {
            let n: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM run_outbox")?
                .query_row([], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }
}

fn pending_row(r: &Row<'_>) -> rusqlite::Result<PendingRun> {
    Ok(PendingRun {
        run: run_row(r)?,
        attempts: r.get(12)?,
        due_ms: r.get(13)?,
        last_error: r.get(14)?,
    })
}
