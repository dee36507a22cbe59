//! HTTP handlers, one file per resource. Each handler extracts, calls `sidefx-core`, and maps
//! the result; status codes are decided in `crate::error` only.

pub mod dead_letters;
pub mod debug;
pub mod events;
pub mod health;
pub mod history;
pub mod metrics;
pub mod runs;
pub mod verify;

use crate::error::ApiError;

/// Fallback for paths no route matches: a JSON 404 instead of an empty body.
pub(crate) async fn route_not_found() -> ApiError {
    ApiError::RouteNotFound
}

/// Fallback for a known path with the wrong method: a JSON 405 instead of an empty body.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
