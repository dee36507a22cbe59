//! The one error type of the HTTP layer and its `IntoResponse`: every refusal is a status code
//! and an [`ErrorBody`], with `Retry-After` on the retryable ones. Internal details go to the
//! log, not to the client.

use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;
use crate::wire::{ErrorBody, ErrorDetail, error_code, error_type};

/// Seconds a client is told to wait after a 429 or 5xx.
const RETRY_AFTER_SECS: HeaderValue = HeaderValue::from_static("1");

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No (usable) `Idempotency-Key` header: 400.
    #[error("{0}")]
    MissingKey(String),
    /// The body or a parameter is invalid; the message names the field: 400.
    #[error("{0}")]
    InvalidRequest(String),
    /// No such route: 404.
    #[error("no such route")]
    NotFound,
    /// The key was used before with other parameters: 400.
    #[error("idempotency key reused with different parameters")]
    KeyReused,
    /// The key's first request is still being processed: 409, retryable.
    #[error("a request with this idempotency key is in flight")]
    InFlight,
    /// Injected 429: nothing committed.
    #[error("rate limited")]
    RateLimited,
    /// Injected 503: nothing committed.
    #[error("service unavailable")]
    Unavailable,
    /// The store failed: 500, nothing committed (the commit is one transaction).
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl ApiError {
    /// A short label for the request log.
    pub fn label(&self) -> &'static str {
        match self {
            ApiError::MissingKey(_) => "missing_key",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::NotFound => "not_found",
            ApiError::KeyReused => "key_reused",
            ApiError::InFlight => "in_flight",
            ApiError::RateLimited => "fault_rate_limited",
            ApiError::Unavailable => "fault_unavailable",
            ApiError::Store(_) => "store_error",
        }
    }

    /// Status, `type` and `code` of the answer.
    fn classify(&self) -> (StatusCode, &'static str, &'static str) {
        use error_code as code;
        use error_type as kind;
        match self {
            ApiError::MissingKey(_) => (
                StatusCode::BAD_REQUEST,
                kind::INVALID_REQUEST,
                code::MISSING_IDEMPOTENCY_KEY,
            ),
            ApiError::InvalidRequest(_) => (
                StatusCode::BAD_REQUEST,
                kind::INVALID_REQUEST,
                code::PARAMETER_INVALID,
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                kind::INVALID_REQUEST,
                code::RESOURCE_MISSING,
            ),
            ApiError::KeyReused => (
                StatusCode::BAD_REQUEST,
                kind::IDEMPOTENCY,
                code::IDEMPOTENCY_KEY_REUSED,
            ),
            ApiError::InFlight => (
                StatusCode::CONFLICT,
                kind::IDEMPOTENCY,
                code::REQUEST_IN_FLIGHT,
            ),
            ApiError::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                kind::RATE_LIMIT,
                code::RATE_LIMITED,
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                kind::API,
                code::SERVICE_UNAVAILABLE,
            ),
            ApiError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, kind::API, code::INTERNAL),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Store(err) = &self {
            tracing::error!(error = %err, "store failed");
        }
        let (status, type_, code) = self.classify();
        // A store failure's details are for the log (above), not for the client.
        let message = match &self {
            ApiError::Store(_) => "internal error; nothing was committed".to_owned(),
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                type_: type_.to_owned(),
                code: code.to_owned(),
                message,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            response.headers_mut().insert(RETRY_AFTER, RETRY_AFTER_SECS);
        }
        response
    }
}
