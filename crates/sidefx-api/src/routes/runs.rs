//! `POST /runs` (create a run, honouring `Idempotency-Key`) and `GET /runs/{run_id}` (its
//! durable status).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sidefx_core::{RunId, RunRow, RunStatus, events_topic};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, IdempotencyKey, RunIdPath};
use crate::outbox::{self, Accepted};
use crate::routes::debug::SideEffectView;
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

/// Response of `GET /runs/{run_id}`: the durable run record and its side effects.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    /// The run's id.
    pub run_id: RunId,
    /// `queued`, `running`, `retrying`, `completed` or `dead_lettered`; `rejected` only for
    /// runs an earlier version answered 503 (re-send the request with the same
    /// `Idempotency-Key`).
    pub status: RunStatus,
    /// The highest attempt number a worker reported.
    pub attempts: u32,
    /// How often a worker published the run's command again because the run stalled (its
    /// command was lost by the broker, or was slow to arrive).
    pub redrives: u32,
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
    fn new(run: RunRow, effects: Vec<SideEffectView>) -> Result<Self, ApiError> {
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
            idempotency_key: run.idempotency_key,
            created_ms: run.created_ms,
            updated_ms: run.updated_ms,
            request,
            effects,
        })
    }
}
