//! The dead letters you can act on: `POST /runs/{run_id}/redrive`, `POST /runs/{run_id}/discard`
//! and `POST /dlq/redrive` (many, by filter). Admin routes (see `admin_auth.rs`).
//!
//! Each action is one store transaction that checks the run, changes it and records the
//! action in the run's history (who, when, why; see `sidefx_core`'s
//! `dead_letter_actions.rs`). A redrive then publishes the run's command; if the broker does
//! not take it now, the worker's stalled-run sweeper publishes it later (the run is `queued`
//! with nothing waiting for it), so the answer is 200 once the redrive is stored.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use sidefx_core::{
    BusinessKey, Discard, Redrive, RedriveRefused, RunFilter, RunId, RunRow, RunStatus, now_ms,
};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, RunIdPath};
use crate::routes::debug::SideEffectView;
use crate::routes::runs::RunView;
use crate::state::AppState;

/// Longest `reason` and `by` kept, in characters.
const MAX_TEXT_CHARS: usize = 500;
/// Default and most dead letters one `POST /dlq/redrive` handles.
const DEFAULT_BULK: u32 = 100;
const MAX_BULK: u32 = 1000;

/// Body of `POST /runs/{run_id}/redrive` (`{}` is enough).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedriveBody {
    /// Why (recorded in the run's history).
    pub reason: Option<String>,
    /// Who asks (recorded; default: the caller's address).
    pub by: Option<String>,
}

/// Body of `POST /runs/{run_id}/discard`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscardBody {
    /// Why the run is given up on (required; recorded in the run's history).
    pub reason: String,
    /// Who asks (recorded; default: the caller's address).
    pub by: Option<String>,
}

/// Body of `POST /dlq/redrive`: which dead letters to redrive.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRedriveBody {
    /// Only the dead letters of this business key.
    pub business_key: Option<String>,
    /// At most this many, newest first (1–1000, default 100).
    pub limit: Option<u32>,
    /// Why (recorded in each run's history).
    pub reason: Option<String>,
    /// Who asks (default: the caller's address).
    pub by: Option<String>,
}

/// Response of `POST /dlq/redrive`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BulkRedriveResponse {
    /// The runs redriven, newest first.
    pub redriven: Vec<RunId>,
    /// The dead letters that were refused, and why.
    pub refused: Vec<RefusedRedrive>,
}

/// One dead letter `POST /dlq/redrive` did not redrive.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefusedRedrive {
    /// The run.
    pub run_id: RunId,
    /// `effect_done`, `redrive_cap`, `not_dead_lettered`.
    pub error: String,
    /// Why, in words.
    pub message: String,
}

type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

/// Redrives a dead-lettered run: it is `queued` again with a new budget of its request's
/// `max_attempts` attempts (numbered on from its last), and its command is published. The
/// redrive is recorded in the run's history as `run.redriven`.
#[utoipa::path(
    post, path = "/runs/{run_id}/redrive", tag = "dead letters",
    params(("run_id" = String, Path, description = "A dead-lettered run")),
    request_body = RedriveBody,
    responses(
        (status = 200, description = "Redriven: the run as it is now (`queued`)", body = RunView),
        (status = 401, description = "`API_ADMIN_TOKEN` is set and was not sent", body = ErrorBody),
        (status = 404, description = "Unknown run", body = ErrorBody),
        (status = 409, description = "`not_dead_lettered`, `effect_done` (the side effect \
            happened, by this run or another run of its business key: nothing to redrive) or \
            `redrive_cap` (`API_MAX_DLQ_REDRIVES` reached); nothing changed", body = ErrorBody,
            example = json!({"error": "effect_done", "message": "the side effect of run r1 is \
                already done (by run r1); nothing to redrive"})),
        (status = 422, description = "Invalid body", body = ErrorBody),
        (status = 500, description = "Store failure", body = ErrorBody),
    )
)]
pub async fn redrive_run(
    State(state): State<AppState>,
    peer: Peer,
    RunIdPath(run_id): RunIdPath,
    ApiJson(body): ApiJson<RedriveBody>,
) -> Result<Json<RunView>, ApiError> {
    let by = actor(body.by.as_deref(), peer.as_ref())?;
    let reason = optional_text("reason", body.reason.as_deref())?;
    let run = redrive(&state, run_id, by, reason)
        .await?
        .map_err(|refused| refused_error(&refused))?;
    view(&state, run).await.map(Json)
}

/// Discards a dead-lettered run: `discarded`, for good (recorded as `run.discarded` with the
/// reason). Its dead letter stays in the archive.
#[utoipa::path(
    post, path = "/runs/{run_id}/discard", tag = "dead letters",
    params(("run_id" = String, Path, description = "A dead-lettered run")),
    request_body = DiscardBody,
    responses(
        (status = 200, description = "Discarded: the run as it is now", body = RunView),
        (status = 401, description = "`API_ADMIN_TOKEN` is set and was not sent", body = ErrorBody),
        (status = 404, description = "Unknown run", body = ErrorBody),
        (status = 409, description = "`not_dead_lettered`; nothing changed", body = ErrorBody),
        (status = 422, description = "Invalid body (a reason is required)", body = ErrorBody),
        (status = 500, description = "Store failure", body = ErrorBody),
    )
)]
pub async fn discard_run(
    State(state): State<AppState>,
    peer: Peer,
    RunIdPath(run_id): RunIdPath,
    ApiJson(body): ApiJson<DiscardBody>,
) -> Result<Json<RunView>, ApiError> {
    let by = actor(body.by.as_deref(), peer.as_ref())?;
    let reason = optional_text("reason", Some(&body.reason))?
        .ok_or_else(|| ApiError::invalid("reason", "say why the run is discarded"))?;
    let discard = Discard { run_id, by, reason };
    let run = state
        .store
        .discard_dead_letter(discard)
        .await?
        .map_err(|refused| refused_error(&refused))?;
    tracing::warn!(run_id = %run.run_id, "dead letter discarded");
    view(&state, run).await.map(Json)
}

/// Redrives the newest dead letters, of one business key or of all; each as
/// `POST /runs/{run_id}/redrive` would, each refusal listed with its reason.
#[utoipa::path(
    post, path = "/dlq/redrive", tag = "dead letters",
    request_body = BulkRedriveBody,
    responses(
        (status = 200, description = "What was redriven and what was refused",
            body = BulkRedriveResponse),
        (status = 401, description = "`API_ADMIN_TOKEN` is set and was not sent", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody),
        (status = 500, description = "Store failure", body = ErrorBody),
    )
)]
pub async fn redrive_many(
    State(state): State<AppState>,
    peer: Peer,
    ApiJson(body): ApiJson<BulkRedriveBody>,
) -> Result<Json<BulkRedriveResponse>, ApiError> {
    let by = actor(body.by.as_deref(), peer.as_ref())?;
    let reason = optional_text("reason", body.reason.as_deref())?;
    let limit = match body.limit {
        None => DEFAULT_BULK,
        Some(n) if (1..=MAX_BULK).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::invalid(
                "limit",
                format!("must be between 1 and {MAX_BULK}"),
            ));
        }
    };
    let business_key = body
        .business_key
        .as_deref()
        .map(BusinessKey::parse)
        .transpose()
        .map_err(|err| ApiError::invalid("business_key", err.to_string()))?;
    let page = state
        .store
        .list_runs_page(RunFilter {
            status: Some(RunStatus::DeadLettered),
            business_key,
            before: None,
            limit,
        })
        .await?;
    let mut response = BulkRedriveResponse {
        redriven: Vec::new(),
        refused: Vec::new(),
    };
    for run in page.runs {
        match redrive(&state, run.run_id, by.clone(), reason.clone()).await? {
            Ok(run) => response.redriven.push(run.run_id),
            Err(refused) => {
                let run_id = refused_run(&refused).clone();
                let error = refused_error(&refused);
                let (_, code) = error.status_and_code();
                response.refused.push(RefusedRedrive {
                    run_id,
                    error: code.to_owned(),
                    message: error.to_string(),
                });
            }
        }
    }
    Ok(Json(response))
}

/// The redrive, then the publish of the run's command (whose failure the sweeper covers).
async fn redrive(
    state: &AppState,
    run_id: RunId,
    by: String,
    reason: Option<String>,
) -> Result<Result<RunRow, RedriveRefused>, ApiError> {
    let request = Redrive {
        run_id,
        by,
        reason,
        max_redrives: state.max_dlq_redrives,
    };
    let run = match state.store.redrive_dead_letter(request).await? {
        Ok(run) => run,
        Err(refused) => return Ok(Err(refused)),
    };
    let command = run.current_command(now_ms()).map_err(|err| {
        ApiError::Internal(format!(
            "stored request of run {} is unreadable: {err}",
            run.run_id
        ))
    })?;
    match state.publisher.command(&command).await {
        Ok(()) => tracing::warn!(run_id = %run.run_id, attempt = command.attempt,
            redrive = run.dlq_redrives, "dead letter redriven"),
        Err(err) => tracing::warn!(run_id = %run.run_id, error = %err,
            "dead letter redriven, but its command could not be published now; \
             the redrive sweeper publishes it"),
    }
    Ok(Ok(run))
}

async fn view(state: &AppState, run: RunRow) -> Result<RunView, ApiError> {
    let effects = state.store.effects_for_run(&run.run_id).await?;
    let effects = effects
        .into_iter()
        .map(|row| SideEffectView::new(row, &state.artifacts))
        .collect();
    RunView::new(run, effects)
}

fn refused_run(refused: &RedriveRefused) -> &RunId {
    match refused {
        RedriveRefused::NotFound(run_id)
        | RedriveRefused::NotDeadLettered { run_id, .. }
        | RedriveRefused::EffectDone { run_id, .. }
        | RedriveRefused::CapReached { run_id, .. }
        | RedriveRefused::UnreadableRequest { run_id, .. } => run_id,
    }
}

fn refused_error(refused: &RedriveRefused) -> ApiError {
    let code = match refused {
        RedriveRefused::NotFound(_) => return ApiError::RunNotFound,
        RedriveRefused::UnreadableRequest { .. } => {
            return ApiError::Internal(refused.to_string());
        }
        RedriveRefused::NotDeadLettered { .. } => "not_dead_lettered",
        RedriveRefused::EffectDone { .. } => "effect_done",
        RedriveRefused::CapReached { .. } => "redrive_cap",
    };
    ApiError::ActionRefused {
        code,
        message: refused.to_string(),
    }
}

/// `by`, or the caller's address.
fn actor(
    by: Option<&str>,
    peer: Option<&Extension<ConnectInfo<SocketAddr>>>,
) -> Result<String, ApiError> {
    if let Some(by) = optional_text("by", by)? {
        return Ok(by);
    }
    Ok(peer.map_or_else(
        || "unknown".to_owned(),
        |Extension(ConnectInfo(addr))| addr.ip().to_string(),
    ))
}

/// A free-text field: trimmed, at most [`MAX_TEXT_CHARS`], no control characters; empty is
/// absent.
fn optional_text(field: &'static str, text: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::invalid(
            field,
            format!("at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(ApiError::invalid(field, "no control characters"));
    }
    Ok(Some(text.to_owned()))
}
