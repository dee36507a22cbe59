//! The admin lock: with `API_ADMIN_TOKEN` set, `/debug/*`, `/metrics`, the listing of every
//! run (`GET /runs`) and the dead-letter actions (`POST /runs/{id}/redrive`,
//! `POST /runs/{id}/discard`, `POST /dlq/redrive`) answer only requests with
//! `Authorization: Bearer <token>` (401 otherwise); creating a run and reading one by its id stay open. Unset, they are open,
//! which suits the default loopback address; they show side effects, payloads, worker owner
//! names and verification reports, so lock them whenever others can reach the API.

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// Whether `method path` is an admin route.
fn is_admin(method: &Method, path: &str) -> bool {
    path.starts_with("/debug/")
        || path == "/debug"
        || path == "/metrics"
        || (path == "/runs" && method == Method::GET)
        || path.starts_with("/dlq/")
        || (method == Method::POST
            && path.starts_with("/runs/")
            && (path.ends_with("/redrive") || path.ends_with("/discard")))
}

/// Middleware: refuses admin routes without the token, when one is configured.
pub(crate) async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.admin_token.as_deref() else {
        return next.run(request).await;
    };
    if !is_admin(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match presented {
        Some(token) if same(token.as_bytes(), expected.as_bytes()) => next.run(request).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}

/// Compares in time that depends only on the lengths, so the answer time does not tell an
/// attacker how many leading bytes of a guess were right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_routes_are_debug_metrics_and_the_run_listing() {
        for path in ["/debug/verify", "/debug/side-effects", "/metrics", "/runs"] {
            assert!(is_admin(&Method::GET, path), "{path}");
        }
        for path in ["/runs/abc", "/healthz", "/docs", "/debugger", "/metrics2"] {
            assert!(!is_admin(&Method::GET, path), "{path}");
        }
        assert!(
            !is_admin(&Method::POST, "/runs"),
            "creating a run stays open"
        );
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secret2"));
        assert!(!same(b"", b"x"));
    }
}
