//! `GET /v1/healthz`, `GET /v1/version` and `/metrics`.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

use crate::http::{AppState, response};

/// `{"status":"ok"}` as the real broker answers; `degraded` plus the error while WAL
/// writes fail (a driftq-local addition, see the README).
#[derive(Serialize)]
struct Health {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    wal_error: Option<String>,
}

#[derive(Serialize)]
struct Version {
    version: &'static str,
    commit: &'static str,
    wal_enabled: bool,
}

/// `{"status":"ok"}`, or `{"status":"degraded","wal_error":…}` while the last WAL write
/// failed (still 200: the broker serves reads and recovers by itself; a restart would
/// not help a full disk).
pub fn healthz(app: &AppState) -> Response {
    let health = match app.shared.wal.degraded() {
        None => Health {
            status: "ok",
            wal_error: None,
        },
        Some(err) => Health {
            status: "degraded",
            wal_error: Some(err.to_string()),
        },
    };
    response::json(StatusCode::OK, &health)
}

/// Build stamps; this broker always writes a WAL.
pub fn version() -> Response {
    let body = Version {
        version: env!("CARGO_PKG_VERSION"),
        commit: option_env!("DRIFTQ_LOCAL_COMMIT").unwrap_or("unknown"),
        wal_enabled: true,
    };
    response::json(StatusCode::OK, &body)
}

/// Prometheus text exposition; any method.
pub fn metrics(app: &AppState) -> Response {
    let text = app.shared.lock().render_metrics();
    let mut resp = Response::new(Body::from(text));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
