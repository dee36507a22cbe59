//! `GET /debug/verify`: the evidence behind the demo's claim. Runs the invariant checks of
//! [`sidefx_core::verify`] over this API's store and tickets and answers with the report.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sidefx_core::{VerifyOptions, VerifyReport};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// Largest grace period accepted: one day.
const MAX_GRACE_MS: u64 = 86_400_000;

/// Error code of the 409 answer.
const INVARIANT_VIOLATED: &str = "invariant_violated";

/// How long a verify waits for the one running before it answers 503 `verify_busy`: a
/// second caller usually gets its report (a verify of 20 000 runs takes under a second in
/// release builds), a crowd gets a prompt refusal instead of a queue.
const VERIFY_WAIT: Duration = Duration::from_secs(2);

/// Query of `/debug/verify`: the grace periods for states that are transient on a live
/// system. Absent values take the defaults (60 s each); `0` asks for a fully settled system.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct VerifyQuery {
    /// Report an in-progress claim once its lease expired this long ago (ms, default 60000).
    #[param(value_type = Option<u64>, minimum = 0, maximum = 86_400_000)]
    pub stale_after_ms: Option<String>,
    /// Report an unfinished run once it was accepted this long ago, however recently it was
    /// redriven or retried (ms, default 60000).
    #[param(value_type = Option<u64>, minimum = 0, maximum = 86_400_000)]
    pub settle_after_ms: Option<String>,
}

impl VerifyQuery {
    /// The options, or a 422 naming the first bad parameter.
    fn options(&self) -> Result<VerifyOptions, ApiError> {
        let defaults = VerifyOptions::default();
        Ok(VerifyOptions {
            stale_after: grace("stale_after_ms", self.stale_after_ms.as_deref())?
                .unwrap_or(defaults.stale_after),
            settle_after: grace("settle_after_ms", self.settle_after_ms.as_deref())?
                .unwrap_or(defaults.settle_after),
            ..defaults
        })
    }
}

/// An integer number of milliseconds in 0..=[`MAX_GRACE_MS`].
fn grace(field: &'static str, raw: Option<&str>) -> Result<Option<Duration>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    match raw.trim().parse::<u64>() {
        Ok(ms) if ms <= MAX_GRACE_MS => Ok(Some(Duration::from_millis(ms))),
        _ => Err(ApiError::invalid(
            field,
            format!("must be an integer number of milliseconds between 0 and {MAX_GRACE_MS}"),
        )),
    }
}

/// Body of `/debug/verify`: the report, plus `error` and `message` when it is not clean, so
/// the 409 reads like every other error response to a client that only checks those.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerifyResponse {
    /// Counts, violations and warnings.
    #[serde(flatten)]
    pub report: VerifyReport,
    /// `invariant_violated` when the report is not clean.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A one-line verdict when the report is not clean.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Checks the invariants behind "no side effect is ever duplicated or lost": every done
/// effect has exactly one matching ticket and every ticket a done effect, no claim is stuck,
/// no step has two effects, every run finished (completed, or dead-lettered and archived).
///
/// A violated invariant is not a failure of this request: the verification ran and found
/// something, so the answer is 409 with the full report, not an `ApiError`.
#[utoipa::path(
    get, path = "/debug/verify", tag = "debug", params(VerifyQuery),
    responses(
        (status = 200, description = "Every invariant holds", body = VerifyResponse),
        (status = 409, description = "An invariant is violated (`error`: `invariant_violated`); \
            the same report, listing the violations", body = VerifyResponse),
        (status = 422, description = "Invalid query parameter", body = ErrorBody),
        (status = 500, description = "Store or artifacts unreadable", body = ErrorBody),
        (status = 503, description = "Another verification is running (`verify_busy`); see \
            Retry-After", body = ErrorBody),
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<VerifyQuery>,
) -> Result<Response, ApiError> {
    let options = query.options()?;
    let gate = Arc::clone(&state.verify_gate);
    let _running = tokio::time::timeout(VERIFY_WAIT, gate.acquire_owned())
        .await
        .map_err(|_| ApiError::VerifyBusy)?
        .map_err(|_| ApiError::VerifyBusy)?;
    let report = sidefx_core::verify(&state.store, &state.artifacts, options)
        .await
        .map_err(|err| ApiError::Internal(err.to_string()))?;
    if report.is_clean() {
        return Ok(Json(VerifyResponse {
            report,
            error: None,
            message: None,
        })
        .into_response());
    }
    let message = format!(
        "{} invariant violation(s); see `violations`",
        report.violations_total
    );
    tracing::warn!(
        violations = report.violations_total,
        "verify: invariants violated"
    );
    let body = VerifyResponse {
        report,
        error: Some(INVARIANT_VIOLATED.to_owned()),
        message: Some(message),
    };
    Ok((StatusCode::CONFLICT, Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, header};
    use sidefx_core::{Artifacts, Publisher, Store};
    use tower::ServiceExt;

    use super::*;

    async fn verify_status(state: &AppState) -> (StatusCode, Option<String>, String) {
        let request = Request::get("/debug/verify").body(Body::empty()).unwrap();
        let response = crate::app(state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            retry_after,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn a_second_verify_waits_then_gets_503_verify_busy() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
        let client = driftq_client::Client::new("http://127.0.0.1:9").unwrap();
        let artifacts = Artifacts::new(dir.path().join("artifacts"));
        let origins = "http://localhost:3000".parse().unwrap();
        let state = AppState::new(store, Publisher::new(client), artifacts, origins);
        // A verify in progress holds the gate (as the handler does while it runs).
        let running = Arc::clone(&state.verify_gate)
            .acquire_owned()
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let (status, retry_after, body) = verify_status(&state).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.contains("\"verify_busy\""), "{body}");
        assert_eq!(retry_after.as_deref(), Some("2"));
        assert!(
            started.elapsed() >= VERIFY_WAIT,
            "it waited for the running one first"
        );
        drop(running);
        let (status, _, body) = verify_status(&state).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    #[test]
    fn grace_periods_default_and_bounds() {
        assert_eq!(grace("x", None).ok(), Some(None));
        assert_eq!(grace("x", Some("0")).ok(), Some(Some(Duration::ZERO)));
        let max = Some(Duration::from_millis(MAX_GRACE_MS));
        assert_eq!(grace("x", Some("86400000")).ok(), Some(max));
        for bad in ["-1", "86400001", "1.5", "", "abc", "18446744073709551616"] {
            assert!(
                matches!(grace("x", Some(bad)), Err(ApiError::InvalidRequest { .. })),
                "{bad}"
            );
        }
    }
}
