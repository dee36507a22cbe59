//! `GET /metrics` (Prometheus text format) and the middleware that counts and times every
//! request by its matched route.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sidefx_core::metrics::{HTTP_REQUEST_DURATION, HTTP_REQUESTS, ROUTE, STATUS};

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Content type of the Prometheus text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Route label of requests no route matched: raw paths would let any client create series.
const UNMATCHED_ROUTE: &str = "unmatched";

/// The process's metrics in the Prometheus text format.
#[utoipa::path(
    get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4",
            body = String, content_type = "text/plain; version=0.0.4"),
        (status = 500, description = "No metrics recorder in this process", body = ErrorBody),
    )
)]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let handle = state
        .metrics
        .as_ref()
        .ok_or_else(|| ApiError::Internal("no metrics recorder installed".into()))?;
    Ok((
        [(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
        handle.render(),
    )
        .into_response())
}

/// Counts the request and records its latency under its route template (`/runs/{run_id}`).
///
/// The time is until the response head is ready; for the SSE route that is when the stream
/// opens, not when it ends.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE.to_owned(), |path| path.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    let status = response.status().as_u16().to_string();
    metrics::histogram!(HTTP_REQUEST_DURATION, ROUTE => route.clone()).record(elapsed);
    metrics::counter!(HTTP_REQUESTS, ROUTE => route, STATUS => status).increment(1);
    response
}
