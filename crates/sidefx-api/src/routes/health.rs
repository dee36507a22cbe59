//! `GET /healthz`: the API is up and DriftQ answers, and whether new runs are being refused
//! for backpressure.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// How long the broker may take to answer; a health check must not hang on a dead broker.
const BROKER_HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Response of `/healthz` (the original's shape, plus `status` and `backpressure`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// `true` when everything is healthy; `false` while DriftQ reports `degraded` (its log
    /// cannot be written, e.g. a full disk) or refused a run for backpressure in the last
    /// 30 s: the API is up and reads work, but new runs get 503.
    pub ok: bool,
    /// `ok`, or `degraded` when `ok` is false.
    #[schema(example = "ok")]
    pub status: String,
    /// DriftQ's own health answer.
    pub driftq: DriftqHealth,
    /// The broker's last backpressure refusal, while it is recent (30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backpressure: Option<Backpressure>,
}

/// A recent backpressure refusal: a partition of a topic holds as many unacked messages as
/// the broker buffers. Usually a consumer group that stopped acking (see the README's
/// "Security and defaults" for what to do).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Backpressure {
    /// The broker's reason, e.g. `partition_buffer_full`.
    pub reason: String,
    /// How long ago it was seen, in milliseconds.
    pub seen_ms_ago: u64,
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
        (status = 200, description = "API and DriftQ are up; `ok: false`, `status: degraded` \
            while DriftQ cannot write its log (`driftq.status: degraded`) or refused a run for \
            backpressure in the last 30 s (`backpressure`)", body = HealthResponse),
        (status = 503, description = "DriftQ is unreachable or unhealthy", body = ErrorBody),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<HealthResponse>, ApiError> {
    let answer = tokio::time::timeout(BROKER_HEALTH_TIMEOUT, state.publisher.client().healthz())
        .await
        .map_err(|_| ApiError::BrokerUnavailable("health check timed out".into()))?;
    // Any failure here (refused connection, wrong URL, 5xx) means "DriftQ is not usable".
    let health = answer.map_err(|err| ApiError::BrokerUnavailable(err.to_string()))?;
    let broker_degraded = health.status == "degraded";
    if broker_degraded {
        tracing::warn!("DriftQ reports degraded (its log cannot be written)");
    }
    let backpressure = state
        .broker_pressure
        .recent()
        .map(|(reason, age)| Backpressure {
            reason,
            seen_ms_ago: u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
        });
    let ok = !broker_degraded && backpressure.is_none();
    Ok(Json(HealthResponse {
        ok,
        status: if ok { "ok" } else { "degraded" }.to_owned(),
        driftq: DriftqHealth {
            status: health.status,
        },
        backpressure,
    }))
}
