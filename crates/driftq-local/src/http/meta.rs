//! `GET /v1/healthz`, `GET /v1/version` and `/metrics`.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

use crate::http::{AppState, response};

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

#[derive(Serialize)]
struct Version {
    version: &'static str,
    commit: &'static str,
    wal_enabled: bool,
}

/// `{"status":"ok"}`.
pub fn healthz() -> Response {
    response::json(StatusCode::OK, &Health { status: "ok" })
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
