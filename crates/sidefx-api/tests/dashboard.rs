//! The dashboard and its login through the router: the pages are served from the binary
//! with a strict content policy, and with `API_ADMIN_TOKEN` set they are admin routes: a
//! browser is sent to `/login`, an API client gets the JSON 401, and the login cookie opens
//! them (and the other admin routes) as the bearer token does.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use clap::Parser;
use sidefx_api::{ApiConfig, AppState, app};
use tempfile::TempDir;
use tower::ServiceExt;

const TOKEN: &str = "s3cret token";
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// A router over a fresh store (no broker), with `extra` flags.
async fn api(dir: &TempDir, extra: &[&str]) -> Router {
    let (db, artifacts) = (dir.path().join("db.sqlite"), dir.path().join("artifacts"));
    let mut args: Vec<std::ffi::OsString> =
        ["sidefx-api", "--driftq-http-url", "http://127.0.0.1:9"]
            .map(Into::into)
            .into();
    args.extend(["--db-path".into(), db.into_os_string()]);
    args.extend(["--artifacts-dir".into(), artifacts.into_os_string()]);
    args.extend(extra.iter().map(Into::into));
    let config = ApiConfig::try_parse_from(args).expect("config");
    app(AppState::from_config(&config).await.expect("state"))
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let (status, headers) = (response.status(), response.headers().clone());
    let body = common::body_bytes(response).await;
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(uri: &str, headers: &[(header::HeaderName, &str)]) -> Request<Body> {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    request.body(Body::empty()).expect("request")
}

fn login_form(body: &str) -> Request<Body> {
    Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .expect("request")
}

#[tokio::test]
async fn the_dashboard_is_served_from_the_binary_with_a_strict_policy() {
    let dir = tempfile::tempdir().unwrap();
    let open = api(&dir, &[]).await;
    for (uri, to) in [("/", "/ui/"), ("/ui", "/ui/"), ("/login", "/ui/")] {
        let (status, headers, _) = send(&open, get(uri, &[])).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{uri}");
        assert_eq!(headers[header::LOCATION], to, "{uri}");
    }
    let (status, headers, page) = send(&open, get("/ui/", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.contains(r#"<script type="module" src="/ui/js/main.js">"#),
        "{page}"
    );
    let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"));
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");

    let (status, headers, script) = send(&open, get("/ui/js/main.js", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(script.contains("hashchange"), "{script}");
    for missing in ["/ui/js/nope.js", "/ui/../Cargo.toml", "/ui/js"] {
        let (status, _, body) = send(&open, get(missing, &[])).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}: {body}");
        assert!(body.contains("\"error\""), "a JSON 404: {body}");
    }
}

#[tokio::test]
async fn a_locked_dashboard_sends_browsers_to_the_login_and_api_clients_a_401() {
    let dir = tempfile::tempdir().unwrap();
    let locked = api(&dir, &["--admin-token", TOKEN]).await;
    let (status, headers, _) =
        send(&locked, get("/ui/", &[(header::ACCEPT, BROWSER_ACCEPT)])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/login");
    for uri in ["/ui/", "/ui/app.css", "/ui/js/main.js"] {
        let (status, _, body) = send(&locked, get(uri, &[])).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert!(body.contains("\"unauthorized\""), "{uri}: {body}");
    }
    for action in ["/runs/r1/redrive", "/runs/r1/discard", "/dlq/redrive"] {
        let request = Request::post(action).body(Body::empty()).unwrap();
        let (status, _, body) = send(&locked, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{action}: {body}");
    }
    let (status, headers, page) = send(&locked, get("/login", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"name="token""#), "{page}");
    assert!(page.contains(r#"href="/login.css""#), "{page}");
    let (status, _, css) = send(&locked, get("/login.css", &[])).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the login page's style loads without the token"
    );
    assert!(css.contains(".card"));
    assert!(headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn the_login_cookie_opens_the_admin_routes_and_a_wrong_token_gets_the_form_again() {
    let dir = tempfile::tempdir().unwrap();
    let locked = api(&dir, &["--admin-token", TOKEN]).await;

    let (status, headers, page) = send(&locked, login_form("token=guess-one")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.get(header::SET_COOKIE).is_none());
    assert!(page.contains("That is not the admin token") && page.contains(r#"name="token""#));
    assert!(
        !page.contains(TOKEN) && !page.contains("guess-one"),
        "{page}"
    );
    let (status, _, page) = send(&locked, login_form("password=x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");

    let (status, headers, _) = send(&locked, login_form("token=s3cret+token")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/ui/");
    let set_cookie = headers[header::SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains(TOKEN),
        "the cookie holds the token encoded: {set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap();
    for uri in ["/ui/", "/ui/js/run.js", "/runs", "/debug/dlq", "/metrics"] {
        let (status, _, body) = send(&locked, get(uri, &[(header::COOKIE, cookie)])).await;
        assert_eq!(status, StatusCode::OK, "{uri} with the cookie: {body}");
    }
    let forged = format!("{cookie}00");
    let (status, _, _) = send(&locked, get("/runs", &[(header::COOKIE, &forged)])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let logout = Request::post("/logout").body(Body::empty()).unwrap();
    let (status, headers, _) = send(&locked, logout).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/login");
    let cleared = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cleared.starts_with("sidefx_admin=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}
