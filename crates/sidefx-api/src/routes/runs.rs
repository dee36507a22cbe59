//! `POST /runs` (create a run, honouring `Idempotency-Key`) and `GET /runs/{run_id}` (its
//! durable status).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sidefx_core::metrics::{RUNS_ACCEPTED, RUNS_REPLAYED};
use sidefx_core::{CreateRun, NewRun, RunId, RunRow, RunStatus, events_topic};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, IdempotencyKey, RunIdPath};
use crate::routes::debug::SideEffectView;
use crate::run_messages::RunMessages;
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

/// Creates a run: stores it, then publishes `run.created`, the first `run.command` and
/// `command.enqueued`.
///
/// With an `Idempotency-Key`, repeating the request returns the first run (header
/// `Idempotent-Replayed: true`) and publishes its messages again if it has not started yet
/// (the broker drops duplicates), so a retry after a failed publish completes the run.
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
        (status = 500, description = "Store failure", body = ErrorBody),
        (status = 502, description = "Broker refused the message", body = ErrorBody),
        (status = 503, description = "Broker unavailable or full, or this API serving its \
            maximum of run requests (`overloaded`); see Retry-After", body = ErrorBody),
    )
)]
pub async fn create_run(
    State(state): State<AppState>,
    IdempotencyKey(idempotency_key): IdempotencyKey,
    ApiJson(body): ApiJson<CreateRunBody>,
) -> Result<Response, ApiError> {
    // Held until the response is built: bounds the requests that hold memory and a broker
    // connection at once (a refused one stored nothing, so retrying it is always safe).
    let _admitted = state.admit_run()?;
    let request = body.validate()?;
    run_request::check_chaos(&request, state.chaos)?;
    let new_run = new_run(&request, idempotency_key)?;
    // The store's UNIQUE(idempotency_key) decides between concurrent requests with one key.
    let (run, replayed) = match state.store.create_run(new_run).await? {
        CreateRun::Created(run) => (run, false),
        CreateRun::Replayed(run) => (run, true),
        CreateRun::KeyConflict(_) => return Err(ApiError::IdempotencyKeyReused),
    };
    let counter = if replayed {
        RUNS_REPLAYED
    } else {
        RUNS_ACCEPTED
    };
    metrics::counter!(counter).increment(1);
    // Once a worker has picked the run up, its messages were published; re-publishing a
    // finished run's first command could only resurrect it after the broker's dedupe window.
    if !replayed || matches!(run.status, RunStatus::Queued | RunStatus::Rejected) {
        enqueue(&state, &run, &request, replayed).await?;
    }
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

/// Publishes the run's first messages. If the broker certainly did not store the command,
/// the run is marked `rejected` before the client hears 503, so the workers' redrive
/// sweeper does not start a run the client was told was refused; re-sending the request
/// with the same `Idempotency-Key` makes it `queued` and publishes again. When the outcome
/// is unknown (a timeout after sending) the run stays `queued`: if the command was lost,
/// the sweeper redrives it, and a client that re-sends gets this run.
///
/// A replay of a `queued` run never rejects it: an earlier request may have been answered
/// 200 for it, and that promise stands whatever this publish says. One window remains: the
/// creating request is refused while a concurrent replay's publish succeeds, and the run is
/// marked `rejected` with its command on the topic. The worker that takes the command moves
/// it on as usual; only if the broker then also loses that command does the run stay
/// `rejected` (counted by verify) until the client re-sends it.
async fn enqueue(
    state: &AppState,
    run: &RunRow,
    request: &RunRequest,
    replayed: bool,
) -> Result<(), ApiError> {
    let was_rejected = run.status == RunStatus::Rejected;
    if was_rejected {
        state.store.requeue_run(&run.run_id).await?;
    }
    let messages = RunMessages::new(&run.run_id, request, run.created_ms);
    let Err(failure) = messages.publish(&state.publisher).await else {
        return Ok(());
    };
    let nothing_promised = !replayed || was_rejected;
    if failure.command_refused && nothing_promised && state.store.reject_run(&run.run_id).await? {
        tracing::warn!(run_id = %run.run_id, error = %failure.error,
            "broker refused the run's command; run marked rejected");
    }
    Err(failure.error.into())
}

/// The row to insert; the fingerprint is the canonical JSON of the validated request.
fn new_run(request: &RunRequest, idempotency_key: Option<String>) -> Result<NewRun, ApiError> {
    let request_json = request
        .canonical_json()
        .map_err(|err| ApiError::Internal(format!("encode request: {err}")))?;
    Ok(NewRun {
        run_id: RunId::generate(),
        business_key: request.business_key.clone(),
        request_fingerprint: request_json.clone(),
        request_json,
        idempotency_key,
    })
}

/// Response of `GET /runs/{run_id}`: the durable run record and its side effects.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    /// The run's id.
    pub run_id: RunId,
    /// `queued`, `running`, `retrying`, `completed`, `dead_lettered`, or `rejected` (answered
    /// 503; re-send the request with the same `Idempotency-Key`).
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
