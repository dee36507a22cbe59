//! `GET /debug/workers`: the worker processes the store has heard from in the last day, most
//! recently seen first, each with what it has in hand and whether it is alive.
//!
//! Alive is decided here, with this API's wall clock against the `last_seen_ms` the worker
//! stamped with its own. Both read the same clock: the API and its workers share one SQLite
//! file, and SQLite's locking only works between processes of one machine (containers
//! included, which share the host's clock), so there is no skew between them to allow for.
//! A clock stepped back reads as alive; one stepped forward by more than three heartbeats
//! shows every worker not alive until their next beat.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use sidefx_core::{WorkerRow, now_ms};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::routes::debug::LimitQuery;
use crate::state::AppState;

/// Default `limit` of `/debug/workers`: more than a deployment runs at once, so the live
/// ones are all there even after a few restarts.
const DEFAULT_WORKERS_LIMIT: u32 = 100;

/// One worker process.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkerView {
    /// The process's owner name (`DRIFTQ_OWNER-<pid>-<hex>`): its claims carry the same.
    pub owner: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
    /// When it started (ms since the epoch).
    pub started_ms: i64,
    /// Its last heartbeat, or its stop (ms since the epoch).
    pub last_seen_ms: i64,
    /// When it stopped gracefully; `null` while it runs, and for a process that died.
    pub stopped_ms: Option<i64>,
    /// Steps it was handling at its last heartbeat.
    pub steps_in_hand: u32,
    /// Not stopped, and its last heartbeat at most three of its intervals old.
    pub alive: bool,
    /// Its heartbeat interval (ms, `WORKER_HEARTBEAT_MS`).
    pub heartbeat_ms: u64,
    /// The worker's version.
    pub version: String,
    /// The side effect it performs (`ticket` or `provider`).
    pub effect: String,
}

impl WorkerView {
    /// The view of `row`, alive or not at `now_ms`.
    pub fn new(row: WorkerRow, now_ms: i64) -> Self {
        WorkerView {
            alive: row.alive_at(now_ms),
            owner: row.owner,
            host: row.host,
            pid: row.pid,
            started_ms: row.started_ms,
            last_seen_ms: row.last_seen_ms,
            stopped_ms: row.stopped_ms,
            steps_in_hand: row.steps_in_hand,
            heartbeat_ms: row.heartbeat_ms,
            version: row.version,
            effect: row.effect,
        }
    }
}

/// Response of `/debug/workers`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkersResponse {
    /// Most recently seen first.
    pub workers: Vec<WorkerView>,
}

/// The worker processes seen in the last day, most recently seen first.
#[utoipa::path(
    get, path = "/debug/workers", tag = "debug", params(LimitQuery),
    responses(
        (status = 200, description = "Worker processes", body = WorkersResponse),
        (status = 401, description = "API_ADMIN_TOKEN is set and the request lacks it",
            body = ErrorBody),
        (status = 422, description = "Invalid limit", body = ErrorBody),
        (status = 500, description = "Store failure", body = ErrorBody),
    )
)]
pub async fn workers(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LimitQuery>,
) -> Result<Json<WorkersResponse>, ApiError> {
    let limit = query.get(DEFAULT_WORKERS_LIMIT)?;
    let now = now_ms();
    let rows = state.store.list_workers(now, limit).await?;
    let workers = rows
        .into_iter()
        .map(|row| WorkerView::new(row, now))
        .collect();
    Ok(Json(WorkersResponse { workers }))
}
