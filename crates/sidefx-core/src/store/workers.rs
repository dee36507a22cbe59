//! The worker registry: one row per worker process, written by the process itself at start,
//! on every heartbeat and when it stops (`GET /debug/workers` reads it).
//!
//! A row is keyed by the process's owner name, the same fencing identity its claims carry,
//! so the row of a worker and the claims it holds name each other. A process that restarts
//! gets a new owner name and so a new row; rows not seen for [`WORKER_RETENTION`] are deleted
//! by the next heartbeat of any worker, which keeps the table bounded.

use std::time::Duration;

use rusqlite::{Row, params};

use super::{Store, StoreError, millis};

/// How long the row of a worker nobody has heard from is kept (a day: long enough to tell
/// what ran yesterday, short enough that a crash-looping worker's rows do not pile up).
pub const WORKER_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// A worker counts as alive while its last heartbeat is at most this many of its own
/// heartbeat intervals old: one missed beat (a slow group commit, a busy machine) is not
/// death, three in a row are.
pub const ALIVE_HEARTBEATS: i64 = 3;

/// Insert the row, or refresh it: only the fields that change after the start move. A row
/// that says `stopped` is not revived (the process said it stopped; a late beat is stale).
pub(super) const UPSERT_WORKER: &str = "
INSERT INTO workers (owner, host, pid, version, effect, heartbeat_ms, started_ms,
                     last_seen_ms, steps_in_hand, stopped_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL)
ON CONFLICT (owner) DO UPDATE SET
  last_seen_ms = excluded.last_seen_ms,
  steps_in_hand = excluded.steps_in_hand,
  heartbeat_ms = excluded.heartbeat_ms
WHERE workers.stopped_ms IS NULL";

/// Deletes the rows of workers not seen since `?1` (through `idx_workers_last_seen_ms`).
pub(super) const FORGET_WORKERS: &str = "DELETE FROM workers WHERE last_seen_ms < ?1";

/// A graceful stop: the last sign of life, with nothing in hand.
pub(super) const WORKER_STOPPED: &str = "
UPDATE workers SET stopped_ms = ?2, last_seen_ms = ?2, steps_in_hand = 0
 WHERE owner = ?1 AND stopped_ms IS NULL";

/// The workers seen since `?1`, most recently seen first. The lower bound is what the index
/// seeks to; rows older than it are the ones the next heartbeat deletes anyway.
pub(super) const LIST_WORKERS: &str = "
SELECT owner, host, pid, version, effect, heartbeat_ms, started_ms, last_seen_ms,
       steps_in_hand, stopped_ms
  FROM workers WHERE last_seen_ms >= ?1
 ORDER BY last_seen_ms DESC, owner DESC LIMIT ?2";

/// One heartbeat of a worker process: who it is and what it does right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerBeat {
    /// The process's owner name (`DRIFTQ_OWNER` plus its per-process suffix).
    pub owner: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
    /// The worker's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// The side effect it performs (`ticket`, `provider`).
    pub effect: String,
    /// How often it beats (ms): what "alive" is measured against.
    pub heartbeat_ms: u64,
    /// When the process started (ms since the epoch).
    pub started_ms: i64,
    /// When this beat was taken (ms since the epoch).
    pub seen_ms: i64,
    /// Steps the process is handling now.
    pub steps_in_hand: u32,
}

/// A worker as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRow {
    /// The process's owner name: the key, and the name its claims carry.
    pub owner: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
    /// The worker's version.
    pub version: String,
    /// The side effect it performs.
    pub effect: String,
    /// Its heartbeat interval (ms).
    pub heartbeat_ms: u64,
    /// When the process started (ms since the epoch).
    pub started_ms: i64,
    /// Its last heartbeat, or its stop (ms since the epoch).
    pub last_seen_ms: i64,
    /// Steps it was handling at its last heartbeat.
    pub steps_in_hand: u32,
    /// When it stopped gracefully; `None` while running, and for a process that died.
    pub stopped_ms: Option<i64>,
}

impl WorkerRow {
    /// Whether the worker is alive at `now_ms`: it did not stop, and its last heartbeat is at
    /// most [`ALIVE_HEARTBEATS`] of its intervals old. `now_ms` must come from the same
    /// clock that stamped `last_seen_ms`; see `GET /debug/workers` for why that holds.
    pub fn alive_at(&self, now_ms: i64) -> bool {
        let grace = i64::try_from(self.heartbeat_ms)
            .unwrap_or(i64::MAX)
            .saturating_mul(ALIVE_HEARTBEATS);
        self.stopped_ms.is_none() && now_ms.saturating_sub(self.last_seen_ms) <= grace
    }
}

impl Store {
    /// Records `beat` (inserting the worker's row on its first beat) and deletes the rows of
    /// workers not seen for [`WORKER_RETENTION`], in one write. Returns how many rows were
    /// deleted.
    pub async fn record_worker(&self, beat: WorkerBeat) -> Result<usize, StoreError> {
        let forget_before = beat.seen_ms.saturating_sub(millis(WORKER_RETENTION));
        self.write(move |conn| {
            let heartbeat_ms = i64::try_from(beat.heartbeat_ms).unwrap_or(i64::MAX);
            let args = params![
                beat.owner,
                beat.host,
                beat.pid,
                beat.version,
                beat.effect,
                heartbeat_ms,
                beat.started_ms,
                beat.seen_ms,
                beat.steps_in_hand,
            ];
            conn.prepare_cached(UPSERT_WORKER)?.execute(args)?;
            Ok(conn
                .prepare_cached(FORGET_WORKERS)?
                .execute([forget_before])?)
        })
        .await
    }

    /// Marks the worker `owner` stopped at `stopped_ms`; `false` if it has no running row.
    pub async fn worker_stopped(&self, owner: &str, stopped_ms: i64) -> Result<bool, StoreError> {
        let owner = owner.to_owned();
        self.write(move |conn| {
            let changed = conn
                .prepare_cached(WORKER_STOPPED)?
                .execute(params![owner, stopped_ms])?;
            Ok(changed == 1)
        })
        .await
    }

    /// At most `limit` workers seen in the [`WORKER_RETENTION`] before `now_ms`, most
    /// recently seen first.
    pub async fn list_workers(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<WorkerRow>, StoreError> {
        let since = now_ms.saturating_sub(millis(WORKER_RETENTION));
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(LIST_WORKERS)?;
            let rows = stmt.query_map(params![since, limit], worker_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}

fn worker_row(r: &Row<'_>) -> rusqlite::Result<WorkerRow> {
    Ok(WorkerRow {
        owner: r.get(0)?,
        host: r.get(1)?,
        pid: r.get(2)?,
        version: r.get(3)?,
        effect: r.get(4)?,
        heartbeat_ms: r.get(5)?,
        started_ms: r.get(6)?,
        last_seen_ms: r.get(7)?,
        steps_in_hand: r.get(8)?,
        stopped_ms: r.get(9)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(last_seen_ms: i64, stopped_ms: Option<i64>) -> WorkerRow {
        WorkerRow {
            owner: "w-1-abcd".into(),
            host: "h".into(),
            pid: 1,
            version: "0".into(),
            effect: "ticket".into(),
            heartbeat_ms: 2000,
            started_ms: 0,
            last_seen_ms,
            steps_in_hand: 0,
            stopped_ms,
        }
    }

    #[test]
    fn alive_means_not_stopped_and_seen_within_three_heartbeats() {
        assert!(row(10_000, None).alive_at(10_000));
        assert!(row(10_000, None).alive_at(16_000), "three beats late");
        assert!(!row(10_000, None).alive_at(16_001), "past three beats");
        assert!(!row(10_000, Some(10_000)).alive_at(10_000), "stopped");
        // A clock that stepped back (or a beat stamped after the reader's clock) is alive.
        assert!(row(10_000, None).alive_at(9_000));
    }
}
