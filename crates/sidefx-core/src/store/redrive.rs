//! Queries behind the worker's redrive sweeper: finding runs that stopped making progress
//! (their command was lost by the broker, see docs/RELIABILITY.md and PROTOCOL Q1) and
//! fencing a redrive so one worker wins it; and the requeue of a run an earlier version
//! answered `rejected`.

use rusqlite::params;

use super::runs::{RunRow, run_row};
use super::{Store, StoreError};
use crate::ids::RunId;
use crate::messages::now_ms;

/// Unfinished runs (queued, running, retrying) whose row has not changed for `after_ms`
/// (?2) before `now_ms` (?1), doubled per redrive the run already had (exponential backoff:
/// a run that a redrive does not move on is not republished at the sweep's pace), and that
/// have no retry waiting in the outbox (a backing-off run is not stalled, it is waiting on
/// purpose) and none waiting in the run outbox (the API's relay still owes its first
/// messages), oldest change first. `rejected` runs are not in the list: nothing was promised
/// for them. The first bound uses the partial index; the backoff filters what it finds.
pub(super) const STALLED_RUNS: &str = "
SELECT run_id, business_key, status, attempts, request_json, idempotency_key,
       request_fingerprint, created_ms, updated_ms, redrives, dlq_redrives, attempt_budget
  FROM runs
 WHERE status IN ('queued', 'running', 'retrying') AND updated_ms <= ?1 - ?2
   AND updated_ms <= ?1 - ?2 * (1 << MIN(redrives, 16))
   AND NOT EXISTS (SELECT 1 FROM retry_outbox o WHERE o.run_id = runs.run_id)
   AND NOT EXISTS (SELECT 1 FROM run_outbox p WHERE p.run_id = runs.run_id)
 ORDER BY updated_ms
 LIMIT ?3";

/// The fence: only the sweeper that still sees the row as it was when it selected it moves
/// `updated_ms` forward. Any progress of the run (a worker's status update) or another
/// sweeper's redrive changes the row first and makes this a no-op.
pub(super) const CLAIM_REDRIVE: &str = "
UPDATE runs SET updated_ms = ?5, redrives = redrives + 1
 WHERE run_id = ?1 AND updated_ms = ?2 AND status = ?3 AND attempts = ?4
   AND status IN ('queued', 'running', 'retrying')";

pub(super) const REQUEUE_RUN: &str = "
UPDATE runs SET status = 'queued', updated_ms = ?2
 WHERE run_id = ?1 AND status = 'rejected'";

impl Store {
    /// Up to `limit` runs that may have lost their command: unfinished, unchanged for
    /// `after_ms` before `now_ms` (times 2 per earlier redrive of the run), and not waiting
    /// for a scheduled retry.
    pub async fn stalled_runs(
        &self,
        now_ms: i64,
        after_ms: i64,
        limit: u32,
    ) -> Result<Vec<RunRow>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(STALLED_RUNS)?;
            let rows = stmt.query_map(params![now_ms, after_ms, limit], run_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Takes the redrive of `seen`, a row from [`Store::stalled_runs`], if the run is still
    /// exactly as seen. Returns the new `updated_ms`, the redrive's stamp, if this caller won;
    /// `None` if the run moved or another sweeper won. Publishing happens after this commit:
    /// a crash in between just leaves the run for the next sweep, one stall period later.
    pub async fn claim_redrive(&self, seen: &RunRow) -> Result<Option<i64>, StoreError> {
        let (run_id, seen_ms, status, attempts) = (
            seen.run_id.clone(),
            seen.updated_ms,
            seen.status,
            seen.attempts,
        );
        // Strictly later than what was seen, even if the clock stands still or went back:
        // the stamp names the redrive's message, so it must be new.
        let stamp = now_ms().max(seen_ms.saturating_add(1));
        self.write(move |conn| {
            let changed = conn
                .prepare_cached(CLAIM_REDRIVE)?
                .execute(params![run_id, seen_ms, status, attempts, stamp])?;
            Ok((changed == 1).then_some(stamp))
        })
        .await
    }

    /// The client re-sent the request of a run an earlier version answered 503 `rejected`
    /// (same `Idempotency-Key`): it is `queued` again and owed to the broker by the run
    /// outbox (due at `relay_due_ms`), in one transaction. Returns `false`, changing nothing,
    /// for any other status.
    pub async fn requeue_rejected_run(
        &self,
        run_id: &RunId,
        relay_due_ms: i64,
    ) -> Result<bool, StoreError> {
        let run_id = run_id.clone();
        self.write(move |conn| {
            let now = now_ms();
            let changed = conn
                .prepare_cached(REQUEUE_RUN)?
                .execute(params![run_id, now])?;
            if changed == 1 {
                conn.prepare_cached(super::run_outbox::INSERT_PENDING)?
                    .execute(params![run_id, relay_due_ms, now])?;
            }
            Ok(changed == 1)
        })
        .await
    }
}
