//! The client's error type, and the mapping from a broker answer (status,
//! `Retry-After` header, JSON error body) to it.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

/// Broker message for an ack/nack of a message that is not (or no longer) in flight.
/// Broker text for a produce racing another produce of the same idempotency key.
const KEY_IN_FLIGHT: &str = "idempotency: key already in-flight";
const NOT_IN_FLIGHT: &str = "message is not in-flight";
/// Prefix of the broker message for an unknown topic (produce adds " (create it first)").
const TOPIC_MISSING: &str = "topic does not exist";
/// What a 429 means when neither the body nor the header says how long to wait.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Everything that can go wrong when talking to a DriftQ broker.
///
/// The variants follow the broker's status codes, so callers can decide what
/// to do without parsing messages; the helpers [`Error::is_not_in_flight`],
/// [`Error::is_topic_missing`] and [`Error::is_transient`] cover the
/// decisions every consumer and producer has to make.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 409: the caller is not the current owner of the message (it was
    /// redelivered to another consumer after the lease expired).
    #[error("not owner: the message was redelivered to another consumer")]
    NotOwner,
    /// 429: the target partition is full; produce again after `retry_after`.
    #[error("backpressure ({reason}), retry after {retry_after:?}")]
    Backpressure {
        /// `partition_buffer_full` or `partition_buffer_bytes_full`.
        reason: String,
        /// From the body's `retry_after_ms`, else the `Retry-After` header, else 1 s.
        retry_after: Duration,
    },
    /// 400: the broker refused the request; `message` is the broker's text.
    /// Also returned by [`crate::Client::new`] for an unusable base URL.
    #[error("invalid argument: {message}")]
    InvalidArgument {
        /// The broker's `message`, e.g. `topic does not exist (create it first)`.
        message: String,
    },
    /// 404: the path does not exist (usually a wrong base URL).
    #[error("not found: {message}")]
    NotFound {
        /// The broker's message, or the plain-text body when it was not JSON.
        message: String,
    },
    /// The request could not be sent or the answer could not be read
    /// (connection refused or reset, timeout, ...).
    #[error("transport error: {0}")]
    Transport(#[from] reqwest::Error),
    /// Any other status (405, 5xx, ...), with the body as text.
    #[error("unexpected status {status}: {body}")]
    UnexpectedStatus {
        /// The HTTP status code.
        status: u16,
        /// The response body, lossily decoded as UTF-8.
        body: String,
    },
    /// A success answer or a stream item that is not the JSON we expect.
    #[error("cannot decode broker answer: {0}")]
    Decode(String),
}

impl Error {
    /// True for the 400 `message is not in-flight` answer to ack/nack.
    ///
    /// Acks are not idempotent: a retried ack whose first attempt succeeded
    /// (but whose answer was lost) gets this error, so treat it as "done".
    pub fn is_not_in_flight(&self) -> bool {
        matches!(self, Error::InvalidArgument { message } if message.contains(NOT_IN_FLIGHT))
    }

    /// True for the 400 `topic does not exist ...` answer.
    ///
    /// The broker forgets topics that hold no message when it restarts, so a
    /// producer that cached "topic exists" should create it again and retry.
    pub fn is_topic_missing(&self) -> bool {
        matches!(self, Error::InvalidArgument { message } if message.starts_with(TOPIC_MISSING))
    }

    /// True for the 400 `idempotency: key already in-flight` answer to produce: another
    /// request with the same idempotency key is being stored right now. Retrying shortly
    /// gets the usual answer (deduplicated, or stored if the other request failed).
    pub fn is_key_in_flight(&self) -> bool {
        matches!(self, Error::InvalidArgument { message } if message.contains(KEY_IN_FLIGHT))
    }

    /// True when retrying the same request later can succeed: transport
    /// failures, backpressure (429) and server errors (5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport(_) | Error::Backpressure { .. } => true,
            Error::UnexpectedStatus { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Reads an unsuccessful response and turns it into an [`Error`].
    pub(crate) async fn from_response(response: reqwest::Response) -> Error {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        match response.bytes().await {
            Ok(body) => Error::from_parts(status, retry_after.as_deref(), &body),
            Err(err) => Error::Transport(err),
        }
    }

    /// Maps status, `Retry-After` header and body to an [`Error`]; pure so it
    /// can be tested without a server. Never fails: a body that is not the
    /// broker's JSON error shape is kept as text.
    pub(crate) fn from_parts(status: StatusCode, retry_after: Option<&str>, body: &[u8]) -> Error {
        let text = String::from_utf8_lossy(body).trim().to_owned();
        let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
        let message = parsed
            .as_ref()
            .map_or_else(|| text.clone(), |b| b.message.clone());
        match status {
            StatusCode::CONFLICT => Error::NotOwner,
            StatusCode::BAD_REQUEST => Error::InvalidArgument { message },
            StatusCode::NOT_FOUND => Error::NotFound { message },
            StatusCode::TOO_MANY_REQUESTS => Error::Backpressure {
                reason: parsed
                    .as_ref()
                    .and_then(|b| b.reason.clone())
                    .unwrap_or(message),
                retry_after: parsed
                    .and_then(|b| b.retry_after_ms)
                    .map(Duration::from_millis)
                    .or_else(|| parse_retry_after_header(retry_after))
                    .unwrap_or(DEFAULT_RETRY_AFTER),
            },
            _ => Error::UnexpectedStatus {
                status: status.as_u16(),
                body: text,
            },
        }
    }
}

/// The broker's error body: `{"error":CODE,"message":TEXT}`, plus `reason`
/// and `retry_after_ms` on a 429.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    retry_after_ms: Option<u64>,
}

/// `Retry-After` in whole seconds (the only form the broker sends; an HTTP
/// date is not worth supporting for a 1 s hint).
fn parse_retry_after_header(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(status: u16, retry_after: Option<&str>, body: &str) -> Error {
        let status = StatusCode::from_u16(status).expect("valid status");
        Error::from_parts(status, retry_after, body.as_bytes())
    }

    #[test]
    fn conflict_is_not_owner() {
        let err = map(
            409,
            None,
            r#"{"error":"FAILED_PRECONDITION","message":"not owner"}"#,
        );
        assert!(matches!(err, Error::NotOwner));
        assert!(!err.is_transient());
    }

    #[test]
    fn bad_request_keeps_broker_message() {
        let body =
            r#"{"error":"INVALID_ARGUMENT","message":"topic does not exist (create it first)"}"#;
        let err = map(400, None, body);
        assert!(
            matches!(&err, Error::InvalidArgument { message } if message == "topic does not exist (create it first)")
        );
        assert!(err.is_topic_missing());
        assert!(!err.is_not_in_flight());
        assert!(!err.is_transient());
    }

    #[test]
    fn not_in_flight_is_recognised() {
        let err = map(
            400,
            None,
            r#"{"error":"INVALID_ARGUMENT","message":"message is not in-flight"}"#,
        );
        assert!(err.is_not_in_flight());
        assert!(!err.is_topic_missing());
    }

    #[test]
    fn backpressure_prefers_body_retry_after_ms() {
        let body = r#"{"error":"RESOURCE_EXHAUSTED","message":"producer overload: partition_buffer_full","reason":"partition_buffer_full","retry_after_ms":1500}"#;
        let err = map(429, Some("1"), body);
        assert!(matches!(&err, Error::Backpressure { reason, retry_after }
            if reason == "partition_buffer_full" && *retry_after == Duration::from_millis(1500)));
        assert!(err.is_transient());
    }

    #[test]
    fn backpressure_falls_back_to_header_then_default() {
        let from_header = map(429, Some(" 3 "), "overloaded");
        assert!(
            matches!(&from_header, Error::Backpressure { reason, retry_after }
            if reason == "overloaded" && *retry_after == Duration::from_secs(3))
        );
        let default = map(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), "");
        assert!(
            matches!(default, Error::Backpressure { retry_after, .. } if retry_after == DEFAULT_RETRY_AFTER)
        );
    }

    #[test]
    fn plain_text_404_is_not_found() {
        let err = map(404, None, "404 page not found\n");
        assert!(matches!(&err, Error::NotFound { message } if message == "404 page not found"));
    }

    #[test]
    fn other_statuses_are_unexpected_and_5xx_is_transient() {
        let err = map(500, None, r#"{"error":"INTERNAL","message":"boom"}"#);
        assert!(
            matches!(&err, Error::UnexpectedStatus { status: 500, body } if body.contains("boom"))
        );
        assert!(err.is_transient());
        let err = map(
            405,
            None,
            r#"{"error":"METHOD_NOT_ALLOWED","message":"method not allowed"}"#,
        );
        assert!(matches!(err, Error::UnexpectedStatus { status: 405, .. }));
        assert!(!err.is_transient());
    }

    #[test]
    fn garbage_body_never_panics() {
        let err = map(400, None, "\u{0}\u{1}{not json");
        assert!(matches!(err, Error::InvalidArgument { .. }));
        let err = Error::from_parts(StatusCode::BAD_REQUEST, None, &[0xff, 0xfe, b'{']);
        assert!(matches!(err, Error::InvalidArgument { .. }));
    }
}
