//! How the failures of the libraries the API calls become [`ApiError`]s: the broker client,
//! the publisher, the store and the artifact directory. Outages (broker down or out of disk,
//! store disk full or failing) are 503 with `Retry-After`, so clients retry instead of
//! treating them as bugs; everything else unexpected is a 500.

use rusqlite::ErrorCode;
use sidefx_core::{ArtifactError, PublishError, StoreError};

use crate::error::ApiError;

/// Texts of the I/O errors a broker reports when it cannot write its log (`driftq-local`
/// prefixes them with `wal `; the real broker passes Go's error text through).
const STORAGE_FAILURE_TEXTS: [&str; 5] = [
    "no space left on device",
    "input/output error",
    "disk quota exceeded",
    "read-only file system",
    "file too large",
];

/// True when a broker refusal is its storage failing, not the request being wrong: the
/// broker answers a failed log append with a 400 carrying the I/O error.
fn is_broker_storage_failure(err: &driftq_client::Error) -> bool {
    let driftq_client::Error::InvalidArgument { message } = err else {
        return false;
    };
    let message = message.to_ascii_lowercase();
    message.starts_with("wal ") || STORAGE_FAILURE_TEXTS.iter().any(|t| message.contains(t))
}

impl ApiError {
    /// Maps a broker failure; `detail` (logged only) says what we were doing.
    fn from_broker(err: &driftq_client::Error, detail: String) -> Self {
        match err {
            driftq_client::Error::Backpressure {
                reason,
                retry_after,
            } => ApiError::BrokerBackpressure {
                reason: reason.clone(),
                retry_after: *retry_after,
            },
            err if err.is_transient() || is_broker_storage_failure(err) => {
                ApiError::BrokerUnavailable(detail)
            }
            _ => ApiError::BrokerRejected(detail),
        }
    }
}

impl From<driftq_client::Error> for ApiError {
    fn from(err: driftq_client::Error) -> Self {
        ApiError::from_broker(&err, err.to_string())
    }
}

impl From<PublishError> for ApiError {
    fn from(err: PublishError) -> Self {
        match err.driftq_error() {
            Some(source) => ApiError::from_broker(source, err.to_string()),
            None => ApiError::Internal(err.to_string()),
        }
    }
}

/// True for SQLite failures that are the disk's or another process's, not a bug: retrying
/// later can succeed.
fn is_storage_outage(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(
            ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
        )
    )
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        let outage = match &err {
            StoreError::Sqlite(e) => is_storage_outage(e),
            StoreError::GroupRolledBack(e) => is_storage_outage(e),
            StoreError::CreateDir { .. } => true,
            _ => false,
        };
        if outage {
            ApiError::StorageUnavailable(format!("store: {err}"))
        } else {
            ApiError::Internal(format!("store: {err}"))
        }
    }
}

impl From<ArtifactError> for ApiError {
    fn from(err: ArtifactError) -> Self {
        ApiError::Internal(format!("artifacts: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;

    use super::*;

    fn sqlite(code: ErrorCode) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error {
                code,
                extended_code: 0,
            },
            None,
        )
    }

    #[test]
    fn a_full_store_disk_is_a_503_with_retry_after() {
        for code in [ErrorCode::DiskFull, ErrorCode::SystemIoFailure] {
            let response = ApiError::from(StoreError::Sqlite(sqlite(code))).into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        }
        let rolled_back =
            StoreError::GroupRolledBack(std::sync::Arc::new(sqlite(ErrorCode::DiskFull)));
        assert!(matches!(
            ApiError::from(rolled_back),
            ApiError::StorageUnavailable(_)
        ));
        let bug = ApiError::from(StoreError::Sqlite(sqlite(ErrorCode::ConstraintViolation)));
        assert!(matches!(bug, ApiError::Internal(_)));
    }

    #[test]
    fn a_broker_storage_failure_or_5xx_is_a_503_not_a_502() {
        for message in [
            "wal /data/driftq.wal: No space left on device (os error 28)",
            "write driftq.wal: no space left on device",
        ] {
            let err = driftq_client::Error::InvalidArgument {
                message: message.into(),
            };
            let response = ApiError::from(err).into_response();
            assert_eq!(
                response.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{message}"
            );
            assert!(response.headers().contains_key(header::RETRY_AFTER));
        }
        let bad = driftq_client::Error::InvalidArgument {
            message: "topic and value are required".into(),
        };
        assert!(matches!(ApiError::from(bad), ApiError::BrokerRejected(_)));
    }
}
