//! The admin lock: with `API_ADMIN_TOKEN` set, the admin routes (`/debug/*`, `/metrics`, the
//! listing of every run, the dead-letter actions and the dashboard at `/ui/`) answer only a
//! request that presents the token, as `Authorization: Bearer <token>` or as the cookie the
//! login page sets (`login.rs`). Creating a run and reading one by its id stay open. Unset,
//! everything is open, which suits the default loopback address only.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// The cookie that carries the token for a browser that logged in at `/login`.
pub const ADMIN_COOKIE: &str = "sidefx_admin";

/// Where a browser without the token is sent when it asks for a dashboard page.
pub const LOGIN_PATH: &str = "/login";

/// Whether `method path` is an admin route.
fn is_admin(method: &Method, path: &str) -> bool {
    path.starts_with("/debug/")
        || path == "/debug"
        || path == "/metrics"
        || (path == "/runs" && method == Method::GET)
        || is_dashboard(path)
        || is_run_action(path)
        || path == "/dlq"
        || path.starts_with("/dlq/")
}

/// The dashboard's pages and assets.
fn is_dashboard(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// `/runs/{run_id}/redrive` and `/runs/{run_id}/discard`: they change a run, so whatever
/// method they are asked with (a wrong one is still refused before it is routed).
fn is_run_action(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/runs/") else {
        return false;
    };
    matches!(
        rest.split_once('/'),
        Some((run, "redrive" | "discard")) if !run.is_empty()
    )
}

/// Middleware: refuses admin routes without the token, when one is configured. A browser
/// asking for a dashboard page is sent to the login page instead of a JSON 401.
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
    if presents_token(request.headers(), expected) {
        return next.run(request).await;
    }
    if is_dashboard(request.uri().path()) && wants_html(request.method(), request.headers()) {
        // 303: the browser follows with a GET, whatever the method was.
        return Redirect::to(LOGIN_PATH).into_response();
    }
    ApiError::Unauthorized.into_response()
}

/// Whether the request carries `expected` as its bearer token or in the admin cookie.
pub(crate) fn presents_token(headers: &HeaderMap, expected: &str) -> bool {
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.strip_prefix("Bearer "));
    let cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(ADMIN_COOKIE)?.strip_prefix('='));
    // Every candidate is compared (no early exit on the first match), each in constant time.
    let in_cookie = crate::login::cookie_value(expected);
    let by_bearer = bearer.fold(false, |found, token| {
        same(token.as_bytes(), expected.as_bytes()) | found
    });
    cookies.fold(by_bearer, |found, value| {
        same(value.as_bytes(), in_cookie.as_bytes()) | found
    })
}

/// A page load by a browser (a `GET` that accepts HTML), as opposed to an API client.
fn wants_html(method: &Method, headers: &HeaderMap) -> bool {
    let accepts_html = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("text/html"));
    (method == Method::GET || method == Method::HEAD) && accepts_html
}

/// Compares in time that depends only on the lengths, so the answer time does not tell an
/// attacker how many leading bytes of a guess were right.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn admin_routes_are_debug_metrics_the_listing_the_actions_and_the_dashboard() {
        for path in [
            "/debug/verify",
            "/debug/side-effects",
            "/debug/workers",
            "/metrics",
            "/runs",
            "/ui",
            "/ui/",
            "/ui/js/main.js",
            "/dlq/redrive",
        ] {
            assert!(is_admin(&Method::GET, path), "{path}");
        }
        for path in ["/runs/r1/redrive", "/runs/r1/discard"] {
            assert!(is_admin(&Method::POST, path), "{path}");
            assert!(is_admin(&Method::GET, path), "{path}");
        }
        for path in [
            "/runs/abc",
            "/runs/abc/events",
            "/runs/abc/history",
            "/runs//redrive",
            "/healthz",
            "/docs",
            "/debugger",
            "/metrics2",
            "/uix",
            "/login",
            "/",
        ] {
            assert!(!is_admin(&Method::GET, path), "{path}");
        }
        assert!(
            !is_admin(&Method::POST, "/runs"),
            "creating a run stays open"
        );
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_token_is_taken_from_the_bearer_header_or_the_cookie() {
        let bearer = headers(&[(header::AUTHORIZATION, "Bearer s3cret")]);
        assert!(presents_token(&bearer, "s3cret"));
        let cookie = headers(&[(header::COOKIE, "theme=dark; sidefx_admin=733363726574")]);
        assert!(presents_token(&cookie, "s3cret"));
        for wrong in [
            headers(&[]),
            headers(&[(header::AUTHORIZATION, "Bearer s3cre")]),
            headers(&[(header::AUTHORIZATION, "Basic s3cret")]),
            headers(&[(header::COOKIE, "sidefx_admin=s3cret")]),
            headers(&[(header::COOKIE, "sidefx_admin=73336372657432")]),
            headers(&[(header::COOKIE, "other_sidefx_admin=733363726574")]),
            headers(&[(header::COOKIE, "sidefx_adminx=733363726574")]),
        ] {
            assert!(!presents_token(&wrong, "s3cret"), "{wrong:?}");
        }
    }

    #[test]
    fn only_a_browser_page_load_wants_html() {
        let html = headers(&[(header::ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")]);
        assert!(wants_html(&Method::GET, &html));
        assert!(!wants_html(&Method::POST, &html));
        assert!(!wants_html(&Method::GET, &headers(&[])));
        let json = headers(&[(header::ACCEPT, "application/json")]);
        assert!(!wants_html(&Method::GET, &json));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secret2"));
        assert!(!same(b"", b"x"));
    }
}
