//! The durable run registry: one row per run, and the `Idempotency-Key` of the request that
//! created it, so a client that re-sends `POST /runs` gets the same run instead of a second
//! charge (the original kept runs in memory and had no such key).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, run_history, run_outbox};
use crate::ids::{BusinessKey, RunId};
use crate::messages::{Event, now_ms};

/// A run to register (status `queued`, 0 attempts).
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The new run's id.
    pub run_id: RunId,
    /// The caller's key.
    pub business_key: BusinessKey,
    /// The request as received, for replaying the response and for debugging.
    pub request_json: String,
    /// The client's `Idempotency-Key` header, if it sent one.
    pub idempotency_key: Option<String>,
    /// A digest of the request body: a replay with the same key must carry the same request.
    pub request_fingerprint: String,
}

/// The outcome of [`Store::create_run`].
#[derive(Debug, Clone, PartialEq)]
pub enum CreateRun {
    /// A new run was registered.
    Created(RunRow),
    /// The idempotency key is known and the request is the same: this is that run.
    Replayed(RunRow),
    /// The idempotency key is known but was used for a different request.
    KeyConflict(RunRow),
    /// Only from [`Store::accept_run`]: `limit` runs already wait for the broker in the
    /// outbox, so nothing was stored.
    OutboxFull {
        /// The outbox's bound.
        limit: u32,
    },
}

/// Where a run is. `completed` and `dead_lettered` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Accepted: its command is on the commands topic, or owed to it by the run outbox.
    Queued,
    /// A worker is on it.
    Running,
    /// An attempt failed; another one is scheduled.
    Retrying,
    /// Only in databases written before the run outbox (schema 6): the broker refused the
    /// run's first command and the client was answered 503. Nothing runs unless the client
    /// re-sends the request with the same `Idempotency-Key`, which queues it.
    Rejected,
    /// Finished; the side effect happened exactly once.
    Completed,
    /// Exhausted its attempts; recorded on the dead-letter topic.
    DeadLettered,
    /// Was dead-lettered, and an operator discarded it: nothing more happens to it.
    Discarded,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RunStatus {
    /// The value stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Retrying => "retrying",
            RunStatus::Rejected => "rejected",
            RunStatus::Completed => "completed",
            RunStatus::DeadLettered => "dead_lettered",
            RunStatus::Discarded => "discarded",
        }
    }

    /// The inverse of [`RunStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Running,
            Self::Retrying,
            Self::Rejected,
            Self::Completed,
            Self::DeadLettered,
            Self::Discarded,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }

    /// True for `completed`, `dead_lettered` and `discarded`, which no worker moves a run
    /// out of (only an operator's redrive takes a dead letter back to `queued`).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::DeadLettered | RunStatus::Discarded
        )
    }
}

/// One row of `runs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunRow {
    /// The run.
    pub run_id: RunId,
    /// The caller's key.
    pub business_key: BusinessKey,
    /// Where the run is.
    pub status: RunStatus,
    /// The highest attempt number seen.
    pub attempts: u32,
    /// The request that created it.
    pub request_json: String,
    /// The client's `Idempotency-Key`, if any.
    pub idempotency_key: Option<String>,
    /// Digest of the creating request.
    pub request_fingerprint: String,
    /// Creation time (ms since the epoch).
    pub created_ms: i64,
    /// Last change (ms since the epoch).
    pub updated_ms: i64,
    /// How often the redrive sweeper published the run's command again because it stalled.
    pub redrives: u32,
    /// How often an operator redrove the run out of the dead letters.
    pub dlq_redrives: u32,
    /// The attempts the run may make in all, when a redrive raised it (`None`: the
    /// request's `max_attempts`).
    pub attempt_budget: Option<u32>,
}

macro_rules! select_runs {
    ($tail:literal) => {
        concat!(
            "SELECT run_id, business_key, status, attempts, request_json, idempotency_key, ",
            "request_fingerprint, created_ms, updated_ms, redrives, dlq_redrives, attempt_budget FROM runs ",
            $tail
        )
    };
}

/// One run by its id.
pub(super) const RUN_BY_ID: &str = select_runs!("WHERE run_id = ?1");

/// The run an idempotency key created.
pub(super) const RUN_BY_IDEMPOTENCY_KEY: &str = select_runs!("WHERE idempotency_key = ?1");

/// Registration. The table has two uniqueness constraints, the run id and the idempotency
/// key (UNIQUE but NULL-able: SQLite lets any number of rows have no key). A conflict on
/// either makes the INSERT a no-op, and the follow-up lookup says which one it was.
pub(super) const INSERT_RUN: &str = "
INSERT INTO runs (run_id, business_key, status, attempts, request_json, idempotency_key,
                  request_fingerprint, created_ms, updated_ms)
VALUES (?1, ?2, 'queued', 0, ?3, ?4, ?5, ?6, ?6)
ON CONFLICT DO NOTHING";

/// Progress. Events can be processed late or twice, so the update is monotonic: a finished run
/// is never moved back, and `attempts` never decreases.
pub(super) const UPDATE_RUN: &str = "
UPDATE runs SET status = ?2, attempts = MAX(attempts, ?3), updated_ms = ?4
 WHERE run_id = ?1 AND status NOT IN ('completed', 'dead_lettered', 'discarded')";

impl Store {
    /// Registers a run, or finds the run an earlier request with the same idempotency key
    /// created. Nothing is owed to the broker: the caller publishes the run's messages (tests
    /// and tools that stage runs). `POST /runs` uses [`Store::accept_run`].
    pub async fn create_run(&self, r: NewRun) -> Result<CreateRun, StoreError> {
        self.write(move |conn| create_run_blocking(conn, r)).await
    }

    /// What `POST /runs` does: registers the run and, in the same transaction, its row in the
    /// run outbox, due at `relay_due_ms` (when the relay takes over if the caller's own
    /// publish has not succeeded by then). Once this returns `Created`, the run will be
    /// published whatever happens next. A replay of an idempotency key writes nothing. A new
    /// run is refused with [`CreateRun::OutboxFull`], nothing written, while `max_pending`
    /// runs already wait.
    pub async fn accept_run(
        &self,
        r: NewRun,
        max_pending: u32,
        relay_due_ms: i64,
    ) -> Result<CreateRun, StoreError> {
        self.accept_run_recording(r, max_pending, relay_due_ms, |_| Vec::new())
            .await
    }

    /// [`Store::accept_run`], recording in the same transaction the run's first events in its
    /// history (`first_events` of the new run's row; not called for a replay), so that a
    /// run's history never lacks its beginning.
    pub async fn accept_run_recording<F>(
        &self,
        r: NewRun,
        max_pending: u32,
        relay_due_ms: i64,
        first_events: F,
    ) -> Result<CreateRun, StoreError>
    where
        F: FnOnce(&RunRow) -> Vec<Event> + Send + 'static,
    {
        self.write(move |conn| {
            if let Some(key) = &r.idempotency_key
                && let Some(row) = select_run(conn, RUN_BY_IDEMPOTENCY_KEY, key)?
            {
                return Ok(if row.request_fingerprint == r.request_fingerprint {
                    CreateRun::Replayed(row)
                } else {
                    CreateRun::KeyConflict(row)
                });
            }
            let pending: i64 = conn
                .prepare_cached(run_outbox::COUNT_UP_TO)?
                .query_row([max_pending], |row| row.get(0))?;
            if pending >= i64::from(max_pending) {
                return Ok(CreateRun::OutboxFull { limit: max_pending });
            }
            let outcome = create_run_blocking(conn, r)?;
            if let CreateRun::Created(row) = &outcome {
                conn.prepare_cached(run_outbox::INSERT_PENDING)?
                    .execute(params![row.run_id, relay_due_ms, row.created_ms])?;
                run_history::insert_events(conn, &first_events(row))?;
            }
            Ok(outcome)
        })
        .await
    }

    /// One run, if it exists.
    pub async fn get_run(&self, run_id: &RunId) -> Result<Option<RunRow>, StoreError> {
        let run_id = run_id.clone();
        self.call(move |conn| select_run(conn, RUN_BY_ID, &run_id))
            .await
    }

    /// Records progress. A no-op if the run is unknown or already final.
    pub async fn update_run(
        &self,
        run_id: &RunId,
        status: RunStatus,
        attempts: u32,
    ) -> Result<(), StoreError> {
        let run_id = run_id.clone();
        self.write(move |conn| {
            conn.prepare_cached(UPDATE_RUN)?.execute(params![
                run_id,
                status,
                attempts,
                now_ms()
            ])?;
            Ok(())
        })
        .await
    }

    /// The newest runs first.
    pub async fn list_runs(&self, limit: u32) -> Result<Vec<RunRow>, StoreError> {
        self.call(move |conn| {
            let mut stmt =
                conn.prepare_cached(select_runs!("ORDER BY created_ms DESC, run_id LIMIT ?1"))?;
            let rows = stmt.query_map([limit], run_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}

/// Runs inside the writer's `BEGIN IMMEDIATE` transaction: the INSERT and the lookup that
/// explains a conflict see the same state.
fn create_run_blocking(conn: &Connection, r: NewRun) -> Result<CreateRun, StoreError> {
    let inserted = conn.prepare_cached(INSERT_RUN)?.execute(params![
        r.run_id,
        r.business_key,
        r.request_json,
        r.idempotency_key,
        r.request_fingerprint,
        now_ms()
    ])?;
    let outcome = if inserted == 1 {
        let row = select_run(conn, RUN_BY_ID, &r.run_id)?;
        CreateRun::Created(row.ok_or(rusqlite::Error::QueryReturnedNoRows)?)
    } else {
        let existing = match &r.idempotency_key {
            Some(key) => select_run(conn, RUN_BY_IDEMPOTENCY_KEY, key)?,
            None => None,
        };
        match existing {
            Some(row) if row.request_fingerprint == r.request_fingerprint => {
                CreateRun::Replayed(row)
            }
            Some(row) => CreateRun::KeyConflict(row),
            // No row holds the key, so the conflict was on the run id itself.
            None => return Err(StoreError::DuplicateRunId(r.run_id)),
        }
    };
    Ok(outcome)
}

pub(super) fn select_run(
    conn: &Connection,
    sql: &str,
    param: &dyn rusqlite::ToSql,
) -> Result<Option<RunRow>, StoreError> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row([param], run_row)
        .optional()?)
}

pub(super) fn run_row(r: &Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        run_id: r.get(0)?,
        business_key: r.get(1)?,
        status: r.get(2)?,
        attempts: r.get(3)?,
        request_json: r.get(4)?,
        idempotency_key: r.get(5)?,
        request_fingerprint: r.get(6)?,
        created_ms: r.get(7)?,
        updated_ms: r.get(8)?,
        redrives: r.get(9)?,
        dlq_redrives: r.get(10)?,
        attempt_budget: r.get(11)?,
    })
}
