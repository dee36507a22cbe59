//! Read-only queries behind [`crate::verify`]: keyset pages over every side-effect row, and
//! the run-level checks, each answered by one statement so only offending rows leave SQLite.

use rusqlite::{Connection, Row, params};

use super::effect_rows::{self, EffectRow, select_effects};
use super::{RunStatus, Store, StoreError};
use crate::ids::{EffectId, RunId, StepId};

/// A `(run_id, step_id)` that has more than one side-effect row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepEffects {
    /// The run.
    pub run_id: RunId,
    /// The step.
    pub step_id: StepId,
    /// Its effect rows (two or more), in id order.
    pub effect_ids: Vec<EffectId>,
}

/// A run that is not in a final status, as the verifier sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfinishedRun {
    /// The run.
    pub run_id: RunId,
    /// `queued`, `running` or `retrying`.
    pub status: RunStatus,
    /// When it was accepted (ms since the epoch).
    pub created_ms: i64,
    /// Its last change (ms since the epoch).
    pub updated_ms: i64,
}

/// The first rows of a check that may match many, and how many match in all: a broken
/// store with 100k offending runs costs one page of them, not 100k rows in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offenders<T> {
    /// Every matching row, counted in SQLite.
    pub total: u64,
    /// The first `limit` of them.
    pub first: Vec<T>,
}

/// Keyset pagination: `effect_id > ?` walks the primary key index, so every page costs the
/// same however deep the walk is (an OFFSET would rescan all earlier rows each time).
const EFFECTS_PAGE: &str = select_effects!("WHERE effect_id > ?1 ORDER BY effect_id LIMIT ?2");

/// Every row of every step that has more than one row. The row-value `IN` lets SQLite group
/// once and then fetch just the offending rows through the `run_id` index.
const DUPLICATE_STEP_EFFECTS: &str = "
SELECT run_id, step_id, effect_id FROM side_effects
 WHERE (run_id, step_id) IN (SELECT run_id, step_id FROM side_effects
                              GROUP BY run_id, step_id HAVING COUNT(*) > 1)
 ORDER BY run_id, step_id, effect_id";

const RUN_STATUS_COUNTS: &str = "SELECT status, COUNT(*) FROM runs GROUP BY status";

/// Judged by when the run was *accepted*, not by its last change: the redrive sweeper and
/// every redelivery touch `updated_ms`, so a run stuck in a redrive loop never looked idle.
const OLD_UNFINISHED_RUNS: &str = "
SELECT run_id, status, created_ms, updated_ms FROM runs
 WHERE status IN ('queued', 'running', 'retrying') AND created_ms <= ?1
 ORDER BY created_ms, run_id LIMIT ?2";
const COUNT_OLD_UNFINISHED_RUNS: &str = "
SELECT COUNT(*) FROM runs
 WHERE status IN ('queued', 'running', 'retrying') AND created_ms <= ?1";

/// A run completes only after its effect is `done` (or was found done, possibly by an
/// earlier run of its business key), so a completed run whose key has no done row lost its
/// proof. The uncorrelated `NOT IN`s are materialised once. `COUNT(*) OVER ()` counts every
/// match before the LIMIT cuts the page (here and below).
const COMPLETED_WITHOUT_DONE_EFFECT: &str = "
SELECT run_id, COUNT(*) OVER () FROM runs
 WHERE status = 'completed'
   AND run_id NOT IN (SELECT run_id FROM side_effects WHERE status = 'done')
   AND business_key NOT IN (SELECT business_key FROM side_effects
                             WHERE status = 'done' AND effect_key IS NOT NULL)
 ORDER BY run_id LIMIT ?1";

/// The archive is written by the worker's DLQ archiver after the run is marked dead-lettered,
/// so only runs that changed at or before the cut-off are expected to have their record.
const DEAD_LETTERED_WITHOUT_ARCHIVE: &str = "
SELECT run_id, COUNT(*) OVER () FROM runs
 WHERE status = 'dead_lettered' AND updated_ms <= ?1
   AND run_id NOT IN (SELECT run_id FROM dead_letters)
 ORDER BY run_id LIMIT ?2";

impl Store {
    /// Up to `limit` effect rows whose id sorts after `after` (from the start when `None`),
    /// in effect-id order. Each page is its own short query, so a full walk never holds
    /// the connection long enough to stall the workers and the API that share it.
    pub async fn effects_page(
        &self,
        after: Option<&EffectId>,
        limit: u32,
    ) -> Result<Vec<EffectRow>, StoreError> {
        // Every id is non-empty, so "" sorts before all of them.
        let after = after.map_or_else(String::new, |id| id.as_str().to_owned());
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(EFFECTS_PAGE)?;
            let rows = stmt.query_map(params![after, limit], effect_rows::effect_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The steps with more than one side-effect row (e.g. two business keys for one step
    /// of one run): each is one step that performed more than one effect.
    pub async fn duplicate_step_effects(&self) -> Result<Vec<StepEffects>, StoreError> {
        self.call(|conn| duplicate_step_effects_blocking(conn))
            .await
    }

    /// How many runs are in each status (statuses with no runs are absent).
    pub async fn run_status_counts(&self) -> Result<Vec<(RunStatus, u64)>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare_cached(RUN_STATUS_COUNTS)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Runs not yet `completed` or `dead_lettered` that were accepted at or before
    /// `created_before_ms`: all of them counted, the `limit` oldest returned.
    pub async fn old_unfinished_runs(
        &self,
        created_before_ms: i64,
        limit: u32,
    ) -> Result<Offenders<UnfinishedRun>, StoreError> {
        self.call(move |conn| {
            let total = conn
                .prepare_cached(COUNT_OLD_UNFINISHED_RUNS)?
                .query_row([created_before_ms], |r| r.get(0))?;
            let mut stmt = conn.prepare_cached(OLD_UNFINISHED_RUNS)?;
            let rows = stmt.query_map(params![created_before_ms, limit], unfinished_run)?;
            let first = rows.collect::<Result<_, _>>()?;
            Ok(Offenders { total, first })
        })
        .await
    }

    /// Completed runs with no `done` side-effect row (counted; the first `limit` returned).
    pub async fn completed_runs_without_done_effect(
        &self,
        limit: u32,
    ) -> Result<Offenders<RunId>, StoreError> {
        self.call(move |conn| run_ids(conn, COMPLETED_WITHOUT_DONE_EFFECT, params![limit]))
            .await
    }

    /// Dead-lettered runs, last changed at or before `changed_before_ms`, with no archived
    /// dead-letter record (counted; the first `limit` returned).
    pub async fn dead_lettered_runs_without_archive(
        &self,
        changed_before_ms: i64,
        limit: u32,
    ) -> Result<Offenders<RunId>, StoreError> {
        self.call(move |conn| {
            let args = params![changed_before_ms, limit];
            run_ids(conn, DEAD_LETTERED_WITHOUT_ARCHIVE, args)
        })
        .await
    }
}

/// Groups the rows of [`DUPLICATE_STEP_EFFECTS`] (sorted by step) into one entry per step.
fn duplicate_step_effects_blocking(conn: &Connection) -> Result<Vec<StepEffects>, StoreError> {
    let mut stmt = conn.prepare_cached(DUPLICATE_STEP_EFFECTS)?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, RunId>(0)?, r.get::<_, StepId>(1)?, r.get(2)?))
    })?;
    let mut steps: Vec<StepEffects> = Vec::new();
    for row in rows {
        let (run_id, step_id, effect_id) = row?;
        match steps.last_mut() {
            Some(last) if last.run_id == run_id && last.step_id == step_id => {
                last.effect_ids.push(effect_id);
            }
            _ => steps.push(StepEffects {
                run_id,
                step_id,
                effect_ids: vec![effect_id],
            }),
        }
    }
    Ok(steps)
}

/// The rows of a `SELECT run_id, COUNT(*) OVER () … LIMIT` query.
fn run_ids(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Offenders<RunId>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| Ok((r.get(0)?, r.get::<_, u64>(1)?)))?;
    let mut offenders = Offenders {
        total: 0,
        first: Vec::new(),
    };
    for row in rows {
        let (run_id, total) = row?;
        offenders.total = total;
        offenders.first.push(run_id);
    }
    Ok(offenders)
}

fn unfinished_run(r: &Row<'_>) -> rusqlite::Result<UnfinishedRun> {
    Ok(UnfinishedRun {
        run_id: r.get(0)?,
        status: r.get(1)?,
        created_ms: r.get(2)?,
        updated_ms: r.get(3)?,
    })
}
