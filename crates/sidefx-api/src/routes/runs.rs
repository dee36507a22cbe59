//! `POST /runs` (create a run, honouring `Idempotency-Key`), `GET /runs` (the runs, newest
//! first, a page at a time) and `GET /runs/{run_id}` (one run's durable status).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sidefx_core::{BusinessKey, RunCursor, RunFilter, RunId, RunRow, RunStatus, events_topic};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, IdempotencyKey, RunIdPath};
use crate::outbox::{self, Accepted};
use crate::routes::debug::{LimitQuery, SideEffectView};
use crate::run_request::{self, CreateRunBody, RunRequest};
use crate::state::AppState;

/// Response header set when `POST /runs` answered from an earlier request's run.
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "idempotent-replayed";

/// Response of `POST /runs` (the original's shape).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateRunResponse {
    /// The run's id.
    pub run_id: RunId,
    /// The run's event topic; stream it with `GET /runs/{run_id}/events`.
    pub events_topic: String,
}

/// Creates a run: stores it with its first messages in the run outbox (one transaction),
/// answers, and publishes them (`run.created`, the first `run.command`, `command.enqueued`).
///
/// With an `Idempotency-Key`, repeating the request returns the first run (header
/// `Idempotent-Replayed: true`). Once answered 200 the run happens, whatever the broker does
/// next; a 5xx means nothing was stored.
#[utoipa::path(
    post, path = "/runs", tag = "runs",
    request_body = CreateRunBody,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1-255 visible ASCII characters; repeats return the first run")),
    responses(
        (status = 200, description = "Run created (or replayed)", body = CreateRunResponse,
            headers(("Idempotent-Replayed" = String, description = "`true` on a replay"))),
        (status = 400, description = "Body is not JSON", body = ErrorBody,
            example = json!({"error": "malformed_json",
                "message": "malformed JSON body: EOF while parsing an object at line 1 column 26"})),
        (status = 413, description = "Body too large", body = ErrorBody,
            example = json!({"error": "payload_too_large", "message": "request body too large"})),
        (status = 422, description = "Invalid or unknown field, header or content type; an \
            Idempotency-Key reused with another body; or a chaos switch set while the server \
            runs without SIDEFX_CHAOS (`chaos_disabled`)", body = ErrorBody,
            example = json!({"error": "invalid_request",
                "message": "amout: unknown field `amout`, expected one of `business_key`, \
                    `amount`, `fail_before_effect_n`, `fail_mode`, `max_attempts`",
                "field": "amout"})),
        (status = 500, description = "Store failure; nothing was stored", body = ErrorBody),
        (status = 503, description = "`overloaded`, nothing stored: this API is serving its \
            maximum of run requests, or its outbox holds API_MAX_PENDING_RUNS runs the broker \
            has not taken yet; see Retry-After", body = ErrorBody),
    )
)]
pub async fn create_run(
    State(state): State<AppState>,
    IdempotencyKey(idempotency_key): IdempotencyKey,
    ApiJson(body): ApiJson<CreateRunBody>,
) -> Result<Response, ApiError> {
    // Held until the run's first publish ends: bounds the requests and publishes that hold
    // memory and a broker connection at once (a refused request stored nothing).
    let admitted = state.admit_run()?;
    let request = body.validate()?;
    run_request::check_chaos(&request, state.chaos)?;
    let Accepted { run, replayed } =
        outbox::accept(&state, &request, idempotency_key, admitted).await?;
    let body = Json(CreateRunResponse {
        events_topic: events_topic(&run.run_id),
        run_id: run.run_id,
    });
    Ok(if replayed {
        ([(IDEMPOTENT_REPLAYED_HEADER, "true")], body).into_response()
    } else {
        body.into_response()
    })
}

/// Runs per page of `GET /runs` unless `limit` says otherwise.
const DEFAULT_PAGE: u32 = 50;

/// `GET /runs` query. Unknown parameters are refused, so a misspelt filter is a 422, not a
/// listing of everything.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListRunsQuery {
    /// Only runs of this status: `queued`, `running`, `retrying`, `completed`,
    /// `dead_lettered`, `discarded` or `rejected`.
    #[param(value_type = Option<RunStatus>)]
    pub status: Option<String>,
    /// Only the runs of this business key.
    pub business_key: Option<String>,
    /// Runs per page, 1–1000 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// The `next` of the previous page: the runs older than its last run.
    pub before: Option<String>,
}

/// Response of `GET /runs`: a page of runs, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunList {
    /// The runs, newest first (creation time, then run id).
    pub runs: Vec<RunSummary>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// One run of a listing: its record without the request and the effects (`GET /runs/{id}`
/// has those).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunSummary {
    /// The run's id.
    pub run_id: RunId,
    /// The caller's key.
    pub business_key: BusinessKey,
    /// Where the run is.
    pub status: RunStatus,
    /// The highest attempt number a worker reported.
    pub attempts: u32,
    /// How often a stalled run's command was published again.
    pub redrives: u32,
    /// How often an operator redrove the run out of the dead letters.
    pub dlq_redrives: u32,
    /// The `Idempotency-Key` the run was created with, if any.
    pub idempotency_key: Option<String>,
    /// Creation time (ms since the epoch).
    pub created_ms: i64,
    /// Last status change (ms since the epoch).
    pub updated_ms: i64,
}

/// Lists runs, newest first, a page at a time; filter by status and business key. Pages are
/// cut by position (`before` = the previous page's `next`), so runs created meanwhile never
/// shift or repeat a page. An admin route: with `API_ADMIN_TOKEN` set it needs the token.
#[utoipa::path(
    get, path = "/runs", tag = "runs", params(ListRunsQuery),
    responses(
        (status = 200, description = "A page of runs", body = RunList),
        (status = 401, description = "`API_ADMIN_TOKEN` is set and the request lacks it",
            body = ErrorBody),
        (status = 422, description = "An unknown parameter, an unknown status, an invalid \
            business key or limit, or a `before` that no page gave", body = ErrorBody,
            example = json!({"error": "invalid_request",
                "message": "status: must be one of queued, running, retrying, completed, \
                    dead_lettered, rejected, discarded", "field": "status"})),
        (status = 500, description = "Store failure", body = ErrorBody),
    )
)]
pub async fn list_runs(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListRunsQuery>,
) -> Result<Json<RunList>, ApiError> {
    let filter = query.filter()?;
    let page = state.store.list_runs_page(filter).await?;
    Ok(Json(RunList {
        runs: page.runs.into_iter().map(RunSummary::from).collect(),
        next: page.next.map(|cursor| cursor.to_string()),
    }))
}

impl ListRunsQuery {
    /// The store's filter; each invalid parameter is a 422 naming it.
    fn filter(&self) -> Result<RunFilter, ApiError> {
        let status = match self.status.as_deref() {
            None => None,
            Some(raw) => Some(RunStatus::parse(raw.trim()).ok_or_else(|| {
                ApiError::invalid(
                    "status",
                    "must be one of queued, running, retrying, completed, dead_lettered, \
                     rejected, discarded",
                )
            })?),
        };
        let business_key = match self.business_key.as_deref() {
            None => None,
            Some(raw) => Some(
                BusinessKey::parse(raw)
                    .map_err(|err| ApiError::invalid("business_key", err.to_string()))?,
            ),
        };
        let before = match self.before.as_deref() {
            None => None,
            Some(raw) => Some(
                RunCursor::parse(raw)
                    .map_err(|err| ApiError::invalid("before", err.to_string()))?,
            ),
        };
        let limit = LimitQuery {
            limit: self.limit.clone(),
        }
        .get(DEFAULT_PAGE)?;
        Ok(RunFilter {
            status,
            business_key,
            before,
            limit,
        })
    }
}

impl From<RunRow> for RunSummary {
    fn from(run: RunRow) -> Self {
        RunSummary {
            run_id: run.run_id,
            business_key: run.business_key,
            status: run.status,
            attempts: run.attempts,
            redrives: run.redrives,
            dlq_redrives: run.dlq_redrives,
            idempotency_key: run.idempotency_key,
            created_ms: run.created_ms,
            updated_ms: run.updated_ms,
        }
    }
}

/// Response of `GET /runs/{run_id}`: the durable run record and its side effects.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    /// The run's id.
    pub run_id: RunId,
    /// `queued`, `running`, `retrying`, `completed`, `dead_lettered` or `discarded` (a dead
    /// letter an operator gave up on); `rejected` only for runs an earlier version answered 503 (re-send the request with the same
    /// `Idempotency-Key`).
    pub status: RunStatus,
    /// The highest attempt number a worker reported.
    pub attempts: u32,
    /// How often a worker published the run's command again because the run stalled (its
    /// command was lost by the broker, or was slow to arrive).
    pub redrives: u32,
    /// How often an operator redrove the run out of the dead letters
    /// (`POST /runs/{run_id}/redrive`).
    pub dlq_redrives: u32,
    /// The attempts the run may make in all: the request's `max_attempts`, plus that many
    /// again per redrive.
    pub attempt_budget: u32,
    /// The run's event topic.
    pub events_topic: String,
    /// The `Idempotency-Key` the run was created with, if any.
    pub idempotency_key: Option<String>,
    /// Creation time (ms since the epoch).
    pub created_ms: i64,
    /// Last status change (ms since the epoch).
    pub updated_ms: i64,
    /// The validated request, defaults applied.
    pub request: RunRequest,
    /// The run's side-effect rows (at most one per step).
    pub effects: Vec<SideEffectView>,
}

/// The durable status of a run; works for runs created before an API restart.
#[utoipa::path(
    get, path = "/runs/{run_id}", tag = "runs",
    params(("run_id" = String, Path, description = "Run id from `POST /runs`")),
    responses(
        (status = 200, description = "The run", body = RunView),
        (status = 404, description = "Unknown or malformed run id", body = ErrorBody),
        (status = 500, description = "Store failure", body = ErrorBody),
    )
)]
pub async fn get_run(
    State(state): State<AppState>,
    RunIdPath(run_id): RunIdPath,
) -> Result<Json<RunView>, ApiError> {
    let run = state
        .store
        .get_run(&run_id)
        .await?
        .ok_or(ApiError::RunNotFound)?;
    let effects = state.store.effects_for_run(&run_id).await?;
    let effects = effects
        .into_iter()
        .map(|row| SideEffectView::new(row, &state.artifacts));
    let view = RunView::new(run, effects.collect())?;
    Ok(Json(view))
}

impl RunView {
    pub(crate) fn new(run: RunRow, effects: Vec<SideEffectView>) -> Result<Self, ApiError> {
        let request: RunRequest = serde_json::from_str(&run.request_json).map_err(|err| {
            ApiError::Internal(format!(
                "stored request of run {} is unreadable: {err}",
                run.run_id
            ))
        })?;
        Ok(RunView {
            events_topic: events_topic(&run.run_id),
            run_id: run.run_id,
            status: run.status,
            attempts: run.attempts,
            redrives: run.redrives,
            dlq_redrives: run.dlq_redrives,
            attempt_budget: run.attempt_budget.unwrap_or(request.max_attempts),
            idempotency_key: run.idempotency_key,
            created_ms: run.created_ms,
            updated_ms: run.updated_ms,
            request,
            effects,
        })
    }
}
