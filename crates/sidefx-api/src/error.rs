//! The one error type of the API and its one mapping to HTTP: every failure becomes
//! `{"error": CODE, "message": …}` with the right status. Internal details go to the log,
//! never into a response.

use std::borrow::Cow;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sidefx_core::telemetry::untrusted;
use utoipa::ToSchema;

/// Everything a request can fail with. Handlers return `Result<_, ApiError>`; the
/// [`IntoResponse`] impl below is the only place that decides status codes and error codes.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422: a request field (or header, or the body as a whole) failed validation.
    #[error("{field}: {message}")]
    InvalidRequest {
        /// The offending field, e.g. `business_key`, `Idempotency-Key`, `limit`.
        field: Cow<'static, str>,
        /// What is wrong with it, in words a client can act on.
        message: String,
    },
    /// 400: the body is not JSON at all (syntax error, truncated, trailing data).
    #[error("malformed JSON body: {0}")]
    MalformedJson(String),
    /// 422: the request sets a chaos switch and this server runs without `SIDEFX_CHAOS`.
    #[error("{field}: the chaos switches are disabled on this server (SIDEFX_CHAOS is off)")]
    ChaosDisabled {
        /// `fail_mode` or `fail_before_effect_n`.
        field: &'static str,
    },
    /// 422: the `Idempotency-Key` was already used for a request with a different body.
    #[error("Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    /// 404: no run with this id (also for ids that could never name a run).
    #[error("run not found")]
    RunNotFound,
    /// 404: no route matches the path.
    #[error("no route for this path")]
    RouteNotFound,
    /// 405: the route exists but not for this method.
    #[error("method not allowed for this path")]
    MethodNotAllowed,
    /// 413: the body exceeds the API's body limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 503 + `Retry-After`: the broker refused the message because a partition is full.
    #[error("broker backpressure: {reason}")]
    BrokerBackpressure {
        /// The broker's reason, e.g. `partition_buffer_full` (logged, not returned).
        reason: String,
        /// How long the broker asked us to wait.
        retry_after: Duration,
    },
    /// 503 + `Retry-After`: this API instance is serving as many `POST /runs` as it is
    /// configured to (`--max-inflight-runs`); nothing was stored.
    #[error("too many run requests in flight")]
    Overloaded,
    /// 503 + `Retry-After`: the run outbox holds `limit` accepted runs the broker has not
    /// taken yet (`--max-pending-runs`); nothing was stored.
    #[error("{limit} accepted runs are waiting for the broker")]
    OutboxFull {
        /// The outbox's bound.
        limit: u32,
    },
    /// 503 + `Retry-After`: the broker could not be reached, answered with a server error,
    /// or could not store the message (its disk is full or failing).
    #[error("broker unavailable: {0}")]
    BrokerUnavailable(String),
    /// 503 + `Retry-After`: the API's own store cannot write (disk full, I/O error, locked).
    #[error("storage unavailable: {0}")]
    StorageUnavailable(String),
    /// 503 + `Retry-After`: as many event streams are open as allowed (in total, or for
    /// this client).
    #[error("too many event streams open")]
    TooManyStreams,
    /// 503 + `Retry-After`: another `/debug/verify` is running in this process.
    #[error("another verification is running")]
    VerifyBusy,
    /// 408: the client did not send its body, or the request did not complete, in time.
    #[error("request took too long")]
    RequestTimeout,
    /// 401: an admin route (`/debug/*`, `/metrics`) without the `API_ADMIN_TOKEN` bearer.
    #[error("this route needs Authorization: Bearer <API_ADMIN_TOKEN>")]
    Unauthorized,
    /// 421: the `Host` header is not in `API_ALLOWED_HOSTS`.
    #[error("this server does not answer for that Host")]
    MisdirectedHost,
    /// 502: the broker refused a request for a reason that is not the client's fault.
    #[error("broker error: {0}")]
    BrokerRejected(String),
    /// 409: a dead-letter action (redrive, discard) that the run's state refuses: `code` is
    /// `not_dead_lettered`, `effect_done` or `redrive_cap`. Nothing was changed.
    #[error("{message}")]
    ActionRefused {
        /// The error code.
        code: &'static str,
        /// What the run's state is, and why that refuses the action.
        message: String,
    },
    /// 500: a bug or a local failure (store, file system). Only the log sees the cause.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[schema(example = json!({
    "error": "invalid_request",
    "message": "business_key: 1-128 characters of A-Z a-z 0-9 . _ : - not starting with '.'",
    "field": "business_key"
}))]
pub struct ErrorBody {
    /// Stable machine-readable code: `invalid_request`, `malformed_json`, `chaos_disabled`,
    /// `idempotency_key_reused`, `run_not_found`, `not_found`, `method_not_allowed`,
    /// `payload_too_large`, `unauthorized`, `request_timeout`, `misdirected_request`,
    /// `overloaded`, `too_many_streams`, `verify_busy`, `broker_backpressure`, `broker_unavailable`,
    /// `storage_unavailable`, `broker_error`, `internal`; for the dead-letter actions (409)
    /// `not_dead_lettered`, `effect_done`, `redrive_cap`.
    pub error: String,
    /// Human-readable explanation.
    pub message: String,
    /// The request field (or header) at fault, for `invalid_request`, `chaos_disabled` and
    /// `idempotency_key_reused`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// A 422 naming `field`.
    pub fn invalid(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        ApiError::InvalidRequest {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Status and stable error code of this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::InvalidRequest { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request")
            }
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            ApiError::ChaosDisabled { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "chaos_disabled"),
            ApiError::IdempotencyKeyReused => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            ApiError::RunNotFound => (StatusCode::NOT_FOUND, "run_not_found"),
            ApiError::RouteNotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Overloaded | ApiError::OutboxFull { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "overloaded")
            }
            ApiError::BrokerBackpressure { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "broker_backpressure")
            }
            ApiError::BrokerUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "broker_unavailable")
            }
            ApiError::StorageUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable")
            }
            ApiError::TooManyStreams => (StatusCode::SERVICE_UNAVAILABLE, "too_many_streams"),
            ApiError::VerifyBusy => (StatusCode::SERVICE_UNAVAILABLE, "verify_busy"),
            ApiError::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::MisdirectedHost => (StatusCode::MISDIRECTED_REQUEST, "misdirected_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::BrokerRejected(_) => (StatusCode::BAD_GATEWAY, "broker_error"),
            ApiError::ActionRefused { code, .. } => (StatusCode::CONFLICT, *code),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The body a client sees. Broker and internal failures get a fixed text: their details
    /// (URLs, SQL, paths) are logged by [`IntoResponse::into_response`] instead.
    fn body(&self, code: &'static str) -> ErrorBody {
        let (message, field) = match self {
            ApiError::InvalidRequest { field, .. } => (self.to_string(), Some(field.to_string())),
            ApiError::IdempotencyKeyReused => (self.to_string(), Some("Idempotency-Key".into())),
            ApiError::ChaosDisabled { field } => (self.to_string(), Some((*field).to_owned())),
            ApiError::BrokerBackpressure { .. } => (
                "the message broker is overloaded; retry after the Retry-After delay".into(),
                None,
            ),
            ApiError::Overloaded => (
                "the API is serving as many run requests as it accepts at once; retry after \
                 the Retry-After delay"
                    .into(),
                None,
            ),
            ApiError::OutboxFull { limit } => (
                format!(
                    "{limit} accepted runs are waiting for the message broker, which is down \
                     or full; nothing was stored; retry after the Retry-After delay"
                ),
                None,
            ),
            ApiError::BrokerUnavailable(_) => (
                "the message broker is unavailable; retry later".into(),
                None,
            ),
            ApiError::StorageUnavailable(_) => (
                "the API's storage is unavailable (disk full or failing); retry after the \
                 Retry-After delay"
                    .into(),
                None,
            ),
            ApiError::BrokerRejected(_) => ("the message broker refused the request".into(), None),
            ApiError::Internal(_) => ("internal error; see the server log".into(), None),
            _ => (self.to_string(), None),
        };
        ErrorBody {
            error: code.to_owned(),
            message,
            field,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if matches!(self, ApiError::Internal(_)) {
            tracing::error!(status = status.as_u16(), code, error = %untrusted(&self.to_string()), "request failed");
        } else if matches!(self, ApiError::Overloaded) {
            // Shedding is the designed answer to overload: a warning per refused request
            // would add log I/O exactly when the process is busiest.
            tracing::debug!(status = status.as_u16(), code, "request shed");
        } else if status.is_server_error() {
            // The broker's trouble, not ours: worth a warning, and the client retries.
            tracing::warn!(status = status.as_u16(), code, error = %untrusted(&self.to_string()), "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), code, error = %untrusted(&self.to_string()), "request rejected");
        }
        let mut response = (status, Json(self.body(code))).into_response();
        if let ApiError::BrokerBackpressure { reason, .. } = &self {
            let seen = crate::broker_pressure::BackpressureSeen(reason.clone());
            response.extensions_mut().insert(seen);
        }
        let retry_after = match &self {
            ApiError::BrokerBackpressure { retry_after, .. } => Some(*retry_after),
            ApiError::Overloaded | ApiError::TooManyStreams => Some(OVERLOADED_RETRY_AFTER),
            ApiError::VerifyBusy | ApiError::OutboxFull { .. } => Some(UNAVAILABLE_RETRY_AFTER),
            ApiError::BrokerUnavailable(_) | ApiError::StorageUnavailable(_) => {
                Some(UNAVAILABLE_RETRY_AFTER)
            }
            _ => None,
        };
        if matches!(self, ApiError::Unauthorized) {
            let bearer = HeaderValue::from_static("Bearer");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, bearer);
        }
        if let Some(retry_after) = retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(retry_after)),
            );
        }
        response
    }
}

/// The `Retry-After` of [`ApiError::Overloaded`]: the shortest the header can say, since
/// in-flight requests finish within milliseconds to a few seconds.
const OVERLOADED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The `Retry-After` of a broker or store outage: long enough for a restart or freed disk
/// space to matter, short enough that a client does not give up on a blip.
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(2);

/// `Retry-After` is whole seconds: round up, and never 0 (that would invite a busy loop).
fn retry_after_secs(retry_after: Duration) -> u64 {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one_second() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }

    #[test]
    fn backpressure_maps_to_503_with_retry_after() {
        let err = ApiError::from(driftq_client::Error::Backpressure {
            reason: "partition_buffer_full".into(),
            retry_after: Duration::from_millis(2500),
        });
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
    }

    #[test]
    fn overloaded_maps_to_503_with_a_code_and_retry_after() {
        let response = ApiError::Overloaded.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(ApiError::Overloaded.body("overloaded").error, "overloaded");
    }

    #[test]
    fn internal_details_stay_out_of_the_body() {
        let err = ApiError::Internal("store: disk I/O error at /secret/path".into());
        let body = err.body("internal");
        assert!(!body.message.contains("/secret"));
        assert_eq!(body.field, None);
    }

    #[test]
    fn invalid_request_names_its_field() {
        let body = ApiError::invalid("amount", "must be finite").body("invalid_request");
        assert_eq!(body.field.as_deref(), Some("amount"));
        assert_eq!(body.message, "amount: must be finite");
    }
}
