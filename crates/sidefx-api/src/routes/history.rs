//! `GET /runs/{run_id}/history`: a run's recorded events, oldest first, a page at a time.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use sidefx_core::{Event, RunId};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, RunIdPath};
use crate::routes::debug::LimitQuery;
use crate::state::AppState;

/// Events per page unless `limit` says otherwise.
const DEFAULT_PAGE: u32 = 500;

/// Query of the history.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only events after this `seq` (the previous page's `next_after`; 0 or absent: from
    /// the start).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after: Option<String>,
    /// Events per page, 1–1000 (default 500).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// Response of `GET /runs/{run_id}/history`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunHistory {
    /// The run.
    pub run_id: RunId,
    /// Its events, oldest first.
    pub events: Vec<HistoryEntry>,
    /// When the page is full: pass it as `after` for the next one. `null`: that was all.
    pub next_after: Option<i64>,
}

/// One recorded event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    /// Its place in the history (ascending; the SSE stream's `id:`).
    pub seq: i64,
    /// The event, as published.
    pub event: Event,
}

/// The run's events in the order they were recorded: what the API accepted, every attempt,
/// the side effect's claim and outcome, retries, the dead letter, and operators' redrives
/// and discards. Works for any run, any time after it was created (runs created before this
/// version have no recorded history).
#[utoipa::path(
    get, path = "/runs/{run_id}/history", tag = "runs",
    params(("run_id" = String, Path, description = "Run id from `POST /runs`"), HistoryQuery),
    responses(
        (status = 200, description = "The run's events, oldest first", body = RunHistory),
        (status = 404, description = "Unknown or malformed run id", body = ErrorBody),
        (status = 422, description = "Invalid `after` or `limit`, or an unknown parameter",
            body = ErrorBody),
        (status = 500, description = "Store failure", body = ErrorBody),
    )
)]
pub async fn run_history(
    State(state): State<AppState>,
    RunIdPath(run_id): RunIdPath,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<RunHistory>, ApiError> {
    let after = match query.after.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|seq| *seq >= 0)
            .ok_or_else(|| ApiError::invalid("after", "must be a whole number, 0 or more"))?,
    };
    let limit = LimitQuery { limit: query.limit }.get(DEFAULT_PAGE)?;
    state
        .store
        .get_run(&run_id)
        .await?
        .ok_or(ApiError::RunNotFound)?;
    let recorded = state.store.run_history(&run_id, after, limit).await?;
    let full = recorded.len() == limit as usize;
    let mut events = Vec::with_capacity(recorded.len());
    for entry in recorded {
        let event = entry.decode().map_err(|err| {
            ApiError::Internal(format!(
                "recorded event {} of run {run_id} is unreadable: {err}",
                entry.seq
            ))
        })?;
        events.push(HistoryEntry {
            seq: entry.seq,
            event,
        });
    }
    let next_after = if full {
        events.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Json(RunHistory {
        run_id,
        events,
        next_after,
    }))
}
