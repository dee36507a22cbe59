//! Error types: [`ApiError`] is what a request handler answers with (rendered
//! as the DriftQ error body), [`StartError`] is why a broker could not start.

use std::path::PathBuf;

use axum::http::StatusCode;

use crate::wal::WalError;

/// A refused request, rendered as `{"error":CODE,"message":TEXT}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400 `INVALID_ARGUMENT`: validation failures and almost every broker-side refusal.
    #[error("{0}")]
    InvalidArgument(String),
    /// 409 `FAILED_PRECONDITION`: ack/nack by a caller that does not own the message.
    #[error("not owner")]
    NotOwner,
    /// 429 `RESOURCE_EXHAUSTED`: produce refused by backpressure.
    #[error("producer overload: {}", .0.as_str())]
    Overloaded(OverloadReason),
}

impl ApiError {
    /// Shorthand for a 400 with the given message.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::InvalidArgument(message.into())
    }

    /// HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            ApiError::NotOwner => StatusCode::CONFLICT,
            ApiError::Overloaded(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The `error` member of the body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidArgument(_) => "INVALID_ARGUMENT",
            ApiError::NotOwner => "FAILED_PRECONDITION",
            ApiError::Overloaded(_) => "RESOURCE_EXHAUSTED",
        }
    }
}

impl From<WalError> for ApiError {
    /// A failed append is a 400 carrying the I/O error text, as in the real broker.
    fn from(e: WalError) -> Self {
        ApiError::InvalidArgument(e.to_string())
    }
}

/// Why backpressure refused a produce (also the `reason` member of the 429 body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverloadReason {
    /// Too many buffered messages in the partition.
    BufferFull,
    /// Too many buffered bytes in the partition.
    BufferBytesFull,
}

impl OverloadReason {
    /// Wire name of the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            OverloadReason::BufferFull => "partition_buffer_full",
            OverloadReason::BufferBytesFull => "partition_buffer_bytes_full",
        }
    }
}

/// Why [`crate::spawn`] failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be resolved or bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `--reset-wal` could not move the old log aside.
    #[error("cannot reset WAL {path}: {source}")]
    ResetWal {
        /// The WAL path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The WAL could not be opened, read or replayed.
    #[error(transparent)]
    Wal(#[from] WalError),
}
