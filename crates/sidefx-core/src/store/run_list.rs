//! Listing runs, newest first, a page at a time: `GET /runs?status=&business_key=&limit=&before=`.
//!
//! Pages are cut by position, not by offset: the cursor is the last run's
//! `(created_ms, run_id)`, and the next page starts strictly below it, so runs created while a
//! reader pages through never shift or repeat what it sees, and every page costs the same
//! however deep it is. Each filter has an index that answers it (see `query_plans.rs`):
//!
//! * none, or `completed` (the common case): `idx_runs_created_ms`, newest first, stopping at
//!   the page's size;
//! * `queued`, `running`, `retrying`: the partial index of unfinished runs (few, by nature);
//! * `dead_lettered`, `rejected`, `discarded`: a partial index of their own (schema 7, with
//!   `discarded` since 8), touched only when a run ends that way;
//! * a business key: `idx_runs_business_key` (schema 7; a key has few runs).

use std::fmt;

use rusqlite::ToSql;

use super::runs::run_row;
use super::{RunRow, RunStatus, Store, StoreError};
use crate::ids::{BusinessKey, RunId};

/// The columns of a run row, then the filters.
macro_rules! list_runs {
    ($where:literal) => {
        list_runs!("runs", $where)
    };
    ($from:literal, $where:literal) => {
        concat!(
            "SELECT run_id, business_key, status, attempts, request_json, idempotency_key, ",
            "request_fingerprint, created_ms, updated_ms, redrives, dlq_redrives, attempt_budget FROM ",
            $from,
            " WHERE ",
            $where,
            // The bound on `created_ms` is what the index seeks to (a page deep in the listing
            // costs what the first one does); the tie-break on `run_id` filters what it finds.
            " AND created_ms <= COALESCE(?3, 9223372036854775807)",
            " AND (?3 IS NULL OR created_ms < ?3 OR run_id < ?4)",
            " ORDER BY created_ms DESC, run_id DESC LIMIT ?5"
        )
    };
}

/// Every run (`?1`, `?2` unused, always NULL).
pub(super) const LIST_ALL: &str = list_runs!("?1 IS NULL AND ?2 IS NULL");
/// Runs of one status that most runs end in (`completed`).
pub(super) const LIST_BY_STATUS: &str = list_runs!("status = ?1 AND ?2 IS NULL");
/// Unfinished runs of one status: read through the partial index of unfinished runs (named,
/// so that a million completed runs never make the planner walk the time index instead),
/// then sorted; there are only as many as are in flight.
pub(super) const LIST_UNFINISHED: &str = list_runs!(
    "runs INDEXED BY idx_runs_unfinished_updated_ms",
    "status = ?1 AND status IN ('queued', 'running', 'retrying') AND ?2 IS NULL"
);
/// Runs that stopped without completing: read through their partial index.
pub(super) const LIST_STOPPED: &str = list_runs!(
    "status = ?1 AND status IN ('dead_lettered', 'rejected', 'discarded') AND ?2 IS NULL"
);
/// The runs of one business key, of any status or of one (`?1`).
pub(super) const LIST_BY_KEY: &str =
    list_runs!("business_key = ?2 AND (?1 IS NULL OR status = ?1)");

/// Which runs [`Store::list_runs_page`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs of this status.
    pub status: Option<RunStatus>,
    /// Only runs of this business key.
    pub business_key: Option<BusinessKey>,
    /// Only runs after this one in the listing's order (the previous page's `next`).
    pub before: Option<RunCursor>,
    /// At most this many runs.
    pub limit: u32,
}

/// A position in the listing: the run it names and everything newer come before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCursor {
    /// The run's creation time (ms since the epoch).
    pub created_ms: i64,
    /// The run, breaking ties between runs created in the same millisecond.
    pub run_id: RunId,
}

/// One page of runs, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPage {
    /// The runs.
    pub runs: Vec<RunRow>,
    /// Where the next page starts, when this one is full (there may be more).
    pub next: Option<RunCursor>,
}

/// Why a cursor string does not name a position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor from a previous page (expected <created_ms>.<run_id>)")]
pub struct BadCursor;

impl RunCursor {
    /// The position of `run`.
    pub fn of(run: &RunRow) -> Self {
        Self {
            created_ms: run.created_ms,
            run_id: run.run_id.clone(),
        }
    }

    /// Reads a cursor written by [`RunCursor`]'s `Display`: `<created_ms>.<run_id>`.
    pub fn parse(s: &str) -> Result<Self, BadCursor> {
        let (ms, run) = s.split_once('.').ok_or(BadCursor)?;
        let created_ms = ms.parse::<i64>().map_err(|_| BadCursor)?;
        let run_id = RunId::parse(run).map_err(|_| BadCursor)?;
        Ok(Self { created_ms, run_id })
    }
}

impl fmt::Display for RunCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.created_ms, self.run_id)
    }
}

impl RunFilter {
    /// The statement that answers this filter through an index.
    fn statement(&self) -> &'static str {
        match (&self.business_key, self.status) {
            (Some(_), _) => LIST_BY_KEY,
            (None, None) => LIST_ALL,
            (None, Some(RunStatus::Queued | RunStatus::Running | RunStatus::Retrying)) => {
                LIST_UNFINISHED
            }
            (None, Some(RunStatus::DeadLettered | RunStatus::Rejected | RunStatus::Discarded)) => {
                LIST_STOPPED
            }
            (None, Some(RunStatus::Completed)) => LIST_BY_STATUS,
        }
    }
}

impl Store {
    /// One page of runs matching `filter`, newest first.
    pub async fn list_runs_page(&self, filter: RunFilter) -> Result<RunPage, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(filter.statement())?;
            let status = filter.status.map(RunStatus::as_str);
            let (before_ms, before_run) = match &filter.before {
                Some(cursor) => (Some(cursor.created_ms), Some(cursor.run_id.clone())),
                None => (None, None),
            };
            let params: [&dyn ToSql; 5] = [
                &status,
                &filter.business_key,
                &before_ms,
                &before_run,
                &filter.limit,
            ];
            let runs: Vec<RunRow> = stmt
                .query_map(params.as_slice(), run_row)?
                .collect::<Result<_, _>>()?;
            let full = u32::try_from(runs.len()).is_ok_and(|n| n >= filter.limit);
            let next = full.then(|| runs.last().map(RunCursor::of)).flatten();
            Ok(RunPage { runs, next })
        })
        .await
    }
}
