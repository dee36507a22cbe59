//! `GET /healthz`: the API is up and DriftQ answers.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// How long the broker may take to answer; a health check must not hang on a dead broker.
const BROKER_HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Response of `/healthz` (the original's shape).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// `true` when everything is healthy; `false` while DriftQ reports `degraded` (its log
    /// cannot be written, e.g. a full disk): the API is up and reads work, but new runs
    /// get 503 until DriftQ recovers.
    pub ok: bool,
    /// DriftQ's own health answer.
    pub driftq: DriftqHealth,
}

/// DriftQ's `/v1/healthz` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DriftqHealth {
    /// `ok` when the broker is healthy, `degraded` when it says so (`driftq-local` does
    /// while its WAL writes fail).
    #[schema(example = "ok")]
    pub status: String,
}

/// Liveness of the API and reachability of DriftQ.
#[utoipa::path(
    get, path = "/healthz", tag = "health",
    responses(
        (status = 200, description = "API and DriftQ are up; `ok: false` with \
            `driftq.status: degraded` while DriftQ cannot write its log", body = HealthResponse),
        (status = 503, description = "DriftQ is unreachable or unhealthy", body = ErrorBody),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<HealthResponse>, ApiError> {
    let answer = tokio::time::timeout(BROKER_HEALTH_TIMEOUT, state.publisher.client().healthz())
        .await
        .map_err(|_| ApiError::BrokerUnavailable("health check timed out".into()))?;
    // Any failure here (refused connection, wrong URL, 5xx) means "DriftQ is not usable".
    let health = answer.map_err(|err| ApiError::BrokerUnavailable(err.to_string()))?;
    let degraded = health.status == "degraded";
    if degraded {
        tracing::warn!("DriftQ reports degraded (its log cannot be written)");
    }
    Ok(Json(HealthResponse {
        ok: !degraded,
        driftq: DriftqHealth {
            status: health.status,
        },
    }))
}
