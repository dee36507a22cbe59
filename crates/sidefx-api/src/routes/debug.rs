//! Read-only views for people watching the demo: side-effect rows, ticket files and
//! dead letters (`/debug/*`, the original's shapes plus a few fields).

use std::path::Path;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sidefx_core::{
    Artifacts, BusinessKey, DlqRecord, EffectId, EffectRow, EffectStatus, Receipt, RunId, StepId,
    TicketFile,
};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// Largest `limit` any debug view accepts.
const MAX_LIMIT: u32 = 1000;
/// Default `limit` of `/debug/side-effects` (the original's).
const DEFAULT_EFFECTS_LIMIT: u32 = 50;
/// Default `limit` of `/debug/dlq` (the original's).
const DEFAULT_DLQ_LIMIT: u32 = 5;
/// Ticket files listed by `/debug/artifacts`: the last 50 by name, as the original.
const ARTIFACTS_LIMIT: usize = 50;
/// Where tickets live inside the artifacts directory, as responses name it.
const TICKETS_SUBDIR: &str = "tickets";

/// `?limit=` of the debug views (1–1000).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct LimitQuery {
    /// How many items to return (1–1000).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

impl LimitQuery {
    /// The limit, or `default` when absent; anything but an integer in 1–1000 is a 422.
    pub(crate) fn get(&self, default: u32) -> Result<u32, ApiError> {
        let Some(raw) = self.limit.as_deref() else {
            return Ok(default);
        };
        match raw.trim().parse::<u32>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
            _ => Err(ApiError::invalid(
                "limit",
                format!("must be an integer between 1 and {MAX_LIMIT}"),
            )),
        }
    }
}

/// `?limit=&business_key=` of `/debug/side-effects`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct SideEffectsQuery {
    /// How many items to return (1–1000).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Only the effects of this business key (then `limit` does not apply: a key has one
    /// effect per step).
    pub business_key: Option<String>,
}

/// One side-effect row (the original's fields, plus `owner`, `attempts`, `lease_expires_ms`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SideEffectView {
    /// `<run_id>:<step_id>:<business_key>`.
    pub effect_id: EffectId,
    /// The run.
    pub run_id: RunId,
    /// The step.
    pub step_id: StepId,
    /// The caller's key.
    pub business_key: BusinessKey,
    /// `in_progress` or `done`.
    pub status: EffectStatus,
    /// The ticket, once done, relative to the artifacts directory (`tickets/ticket_k.json`).
    pub artifact_path: Option<String>,
    /// Claim time (ms since the epoch).
    pub created_ms: i64,
    /// Last change (ms since the epoch).
    pub updated_ms: i64,
    /// The command that claimed the effect, as stored (`null` if it is not valid JSON).
    #[schema(value_type = Object)]
    pub payload: Option<Box<RawValue>>,
    /// The worker holding (or last holding) the claim.
    pub owner: Option<String>,
    /// Claims of this effect (first claim + takeovers).
    pub attempts: u32,
    /// When an in-progress claim may be taken over.
    pub lease_expires_ms: Option<i64>,
    /// What proves the effect once done: its ticket (path relative to the artifacts
    /// directory), or the provider's charge id.
    pub receipt: Option<Receipt>,
}

impl SideEffectView {
    /// The view of `row`. Paths become relative to `artifacts`: a response must not tell
    /// clients where the server keeps its files (the store keeps them absolute).
    pub fn new(row: EffectRow, artifacts: &Artifacts) -> Self {
        // Passed through verbatim: the payload is the worker's business, not the API's.
        let payload = RawValue::from_string(row.payload_json)
            .inspect_err(|err| {
                tracing::warn!(effect_id = %row.effect_id, error = %err, "stored payload is not JSON");
            })
            .ok();
        SideEffectView {
            effect_id: row.effect_id,
            run_id: row.run_id,
            step_id: row.step_id,
            business_key: row.business_key,
            status: row.status,
            artifact_path: row.artifact_path.map(|p| relative(&p, artifacts)),
            created_ms: row.created_ms,
            updated_ms: row.updated_ms,
            payload,
            owner: row.owner,
            attempts: row.attempts,
            lease_expires_ms: row.lease_expires_ms,
            receipt: row.receipt.map(|r| relative_receipt(r, artifacts)),
        }
    }
}

/// `path` relative to the artifacts directory, e.g. `tickets/ticket_k.json`. A path outside
/// it (a store written with another `ARTIFACTS_DIR`) is shown by its file name under
/// `tickets/`, never as it is.
fn relative(path: &str, artifacts: &Artifacts) -> String {
    let (path, tickets) = (Path::new(path), artifacts.tickets_dir());
    match tickets.parent().map(|root| path.strip_prefix(root)) {
        Some(Ok(inside)) => inside.display().to_string(),
        _ => {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            format!("{TICKETS_SUBDIR}/{name}")
        }
    }
}

fn relative_receipt(receipt: Receipt, artifacts: &Artifacts) -> Receipt {
    match receipt {
        Receipt::Ticket { path } => Receipt::Ticket {
            path: relative(&path, artifacts),
        },
        Receipt::Charge {
            charge_id,
            ticket_path,
        } => Receipt::Charge {
            charge_id,
            ticket_path: relative(&ticket_path, artifacts),
        },
        remote @ Receipt::Remote { .. } => remote,
    }
}

/// Response of `/debug/side-effects`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SideEffectsResponse {
    /// Number of items.
    pub count: usize,
    /// Most recently updated first.
    pub items: Vec<SideEffectView>,
}

/// The side-effect rows, most recently updated first.
#[utoipa::path(
    get, path = "/debug/side-effects", tag = "debug", params(SideEffectsQuery),
    responses(
        (status = 200, description = "Side-effect rows", body = SideEffectsResponse),
        (status = 422, description = "Invalid limit or business key", body = ErrorBody),
        (status = 500, description = "Store failure", body = ErrorBody),
    )
)]
pub async fn side_effects(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SideEffectsQuery>,
) -> Result<Json<SideEffectsResponse>, ApiError> {
    let limit = LimitQuery { limit: query.limit };
    let rows = match query.business_key.as_deref() {
        Some(raw) => {
            let key = BusinessKey::parse(raw)
                .map_err(|e| ApiError::invalid("business_key", e.to_string()))?;
            state.store.effects_of_key(&key).await?
        }
        None => {
            state
                .store
                .list_effects(limit.get(DEFAULT_EFFECTS_LIMIT)?)
                .await?
        }
    };
    let items: Vec<SideEffectView> = rows
        .into_iter()
        .map(|row| SideEffectView::new(row, &state.artifacts))
        .collect();
    Ok(Json(SideEffectsResponse {
        count: items.len(),
        items,
    }))
}

/// Response of `/debug/artifacts`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArtifactsResponse {
    /// The directory the tickets are in, relative to the artifacts directory (`tickets`).
    pub tickets_dir: String,
    /// Number of items.
    pub count: usize,
    /// The last 50 ticket files by name.
    pub items: Vec<TicketFile>,
}

/// The ticket files the side effect wrote (one per business key).
#[utoipa::path(
    get, path = "/debug/artifacts", tag = "debug",
    responses(
        (status = 200, description = "Ticket files", body = ArtifactsResponse),
        (status = 500, description = "Artifact directory unreadable", body = ErrorBody),
    )
)]
pub async fn artifacts(State(state): State<AppState>) -> Result<Json<ArtifactsResponse>, ApiError> {
    let items = state.artifacts.list_tickets(ARTIFACTS_LIMIT).await?;
    Ok(Json(ArtifactsResponse {
        tickets_dir: TICKETS_SUBDIR.to_owned(),
        count: items.len(),
        items,
    }))
}

/// Response of `/debug/dlq`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DlqResponse {
    /// Number of items.
    pub count: usize,
    /// Newest first.
    pub items: Vec<DlqRecord>,
}

/// Dead-lettered runs, newest first. Read from the worker's archive of `sidefx.dlq` (a
/// consumer group per request would leave abandoned groups that block the topic).
#[utoipa::path(
    get, path = "/debug/dlq", tag = "debug", params(LimitQuery),
    responses(
        (status = 200, description = "Dead letters", body = DlqResponse),
        (status = 422, description = "Invalid limit", body = ErrorBody),
        (status = 500, description = "Store failure", body = ErrorBody),
    )
)]
pub async fn dlq(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LimitQuery>,
) -> Result<Json<DlqResponse>, ApiError> {
    let items = state
        .store
        .list_dead_letters(query.get(DEFAULT_DLQ_LIMIT)?)
        .await?;
    Ok(Json(DlqResponse {
        count: items.len(),
        items,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(raw: Option<&str>) -> Result<u32, ApiError> {
        LimitQuery {
            limit: raw.map(str::to_owned),
        }
        .get(50)
    }

    #[test]
    fn limit_defaults_and_bounds() {
        assert_eq!(limit(None).ok(), Some(50));
        assert_eq!(limit(Some("1")).ok(), Some(1));
        assert_eq!(limit(Some("1000")).ok(), Some(1000));
        for bad in ["0", "1001", "-1", "abc", "", "1.5"] {
            assert!(
                matches!(limit(Some(bad)), Err(ApiError::InvalidRequest { .. })),
                "{bad}"
            );
        }
    }
}
