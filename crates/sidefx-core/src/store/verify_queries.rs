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
    /// Its last change (ms since the epoch).
    pub updated_ms: i64,
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

const IDLE_UNFINISHED_RUNS: &str = "
SELECT run_id, status, updated_ms FROM runs
 WHERE status IN ('queued', 'running', 'retrying') AND updated_ms <= ?1
 ORDER BY updated_ms, run_id";

/// A run completes only after its effect is `done` (or was found done, possibly by an
/// earlier run of its business key), so a completed run whose key has no done row lost its
/// proof. The uncorrelated `NOT IN`s are materialised once.
const COMPLETED_WITHOUT_DONE_EFFECT: &str = "
SELECT run_id FROM runs
 WHERE status = 'completed'
   AND run_id NOT IN (SELECT run_id FROM side_effects WHERE status = 'done')
   AND business_key NOT IN (SELECT business_key FROM side_effects
                             WHERE status = 'done' AND effect_key IS NOT NULL)
 ORDER BY run_id";

/// The archive is written by the worker's DLQ archiver after the run is marked dead-lettered,
/// so only runs that changed at or before the cut-off are expected to have their record.
const DEAD_LETTERED_WITHOUT_ARCHIVE: &str = "
SELECT run_id FROM runs
 WHERE status = 'dead_lettered' AND updated_ms <= ?1
   AND run_id NOT IN (SELECT run_id FROM dead_letters)
 ORDER BY run_id";

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

    /// Runs not yet `completed` or `dead_lettered` whose last change is at or before
    /// `changed_before_ms`, longest idle first.
    pub async fn idle_unfinished_runs(
        &self,
        changed_before_ms: i64,
    ) -> Result<Vec<UnfinishedRun>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(IDLE_UNFINISHED_RUNS)?;
            let rows = stmt.query_map([changed_before_ms], unfinished_run)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Completed runs with no `done` side-effect row.
    pub async fn completed_runs_without_done_effect(&self) -> Result<Vec<RunId>, StoreError> {
        self.call(|conn| run_ids(conn, COMPLETED_WITHOUT_DONE_EFFECT, params![]))
            .await
    }

    /// Dead-lettered runs, last changed at or before `changed_before_ms`, with no archived
    /// dead-letter record.
    pub async fn dead_lettered_runs_without_archive(
        &self,
        changed_before_ms: i64,
    ) -> Result<Vec<RunId>, StoreError> {
        self.call(move |conn| {
            run_ids(
                conn,
                DEAD_LETTERED_WITHOUT_ARCHIVE,
                params![changed_before_ms],
            )
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

fn run_ids(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<RunId>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn unfinished_run(r: &Row<'_>) -> rusqlite::Result<UnfinishedRun> {
    Ok(UnfinishedRun {
        run_id: r.get(0)?,
        status: r.get(1)?,
        updated_ms: r.get(2)?,
    })
}
