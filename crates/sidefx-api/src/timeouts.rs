//! Deadlines against slow clients: for the request head (hyper's header read timeout, set in
//! `serve.rs`), for the body, and for the whole request.
//!
//! A connection slot held by a client that trickles bytes is a slot no one else can use, and
//! hyper's defaults (no deadline once a timer is set, a per-read idle timer in
//! `conn_limit.rs`) let one byte every few seconds hold it forever. Each deadline here is a
//! total, not an idle timer: trickling does not extend it.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::ApiConfig;
use crate::error::ApiError;
use crate::state::AppState;

/// The three deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Request line and headers (hyper closes the connection; no answer is possible).
    pub header: Duration,
    /// The whole body, read by `extract::ApiJson` (408).
    pub body: Duration,
    /// From the headers to the response (408); a streaming body is not covered.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: Duration::from_secs(5),
            body: Duration::from_secs(10),
            request: Duration::from_secs(30),
        }
    }
}

impl Timeouts {
    /// The deadlines of `config`.
    pub fn from_config(config: &ApiConfig) -> Self {
        Timeouts {
            header: Duration::from_millis(config.header_timeout_ms),
            body: Duration::from_millis(config.body_timeout_ms),
            request: Duration::from_millis(config.request_timeout_ms),
        }
    }
}

/// The body deadline, as a request extension for the body extractor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyTimeout(pub(crate) Duration);

/// Middleware: the request deadline around the handler, and the body deadline for the
/// extractor. Handlers of event streams return as soon as the stream is set up, so the
/// deadline never cuts a stream.
pub(crate) async fn request_deadline(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    request
        .extensions_mut()
        .insert(BodyTimeout(state.timeouts.body));
    match tokio::time::timeout(state.timeouts.request, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::RequestTimeout.into_response(),
    }
}
