//! The dashboard's login: `GET /login` shows a form asking for `API_ADMIN_TOKEN`, `POST /login`
//! checks it and sets the admin cookie `admin_auth.rs` accepts, `POST /logout` clears it.
//!
//! The cookie is `HttpOnly` (page scripts cannot read it), `SameSite=Strict` (a request
//! started by another site does not carry it, so no other site can make the browser redrive
//! or discard a run) and `Path=/`. It holds the token hex-encoded (so any token makes a valid
//! cookie): anyone who has the cookie has the token, exactly as with the bearer header.
//! Serve the API over TLS before you log in from another machine.

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::admin_auth::{self, ADMIN_COOKIE, LOGIN_PATH};
use crate::dashboard::{self, DASHBOARD_PATH};
use crate::state::AppState;

const LOGIN_PAGE: &str = include_str!("../ui/login.html");
/// Where the page says why the last attempt failed.
const MESSAGE_SLOT: &str = "<!--message-->";

/// The login form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginForm {
    /// `API_ADMIN_TOKEN`.
    pub token: String,
}

/// `GET /login`: the form; with no token configured there is nothing to log into.
pub async fn login_page(State(state): State<AppState>) -> Response {
    if state.admin_token.is_none() {
        return Redirect::to(DASHBOARD_PATH).into_response();
    }
    form_page(StatusCode::OK, None)
}

/// Checks the token and, if it is right, sets the admin cookie and sends the browser to the
/// dashboard. A wrong token is a 401 with the form again; the answer never contains the token.
#[utoipa::path(
    post, path = "/login", tag = "dashboard",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "The token is right: the admin cookie is set, on to `/ui/`"),
        (status = 400, description = "Not a form with a `token` field (the form again, HTML)"),
        (status = 401, description = "Wrong token (the form again, HTML)"),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Some(expected) = state.admin_token.as_deref() else {
        return Redirect::to(DASHBOARD_PATH).into_response();
    };
    let Ok(Form(form)) = form else {
        return form_page(StatusCode::BAD_REQUEST, Some("Send the token in the form."));
    };
    if !admin_auth::same(form.token.as_bytes(), expected.as_bytes()) {
        tracing::info!("dashboard login refused: wrong token");
        return form_page(
            StatusCode::UNAUTHORIZED,
            Some("That is not the admin token."),
        );
    }
    let cookie = format!(
        "{ADMIN_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        cookie_value(expected)
    );
    with_cookie(Redirect::to(DASHBOARD_PATH), &cookie)
}

/// Clears the admin cookie and shows the login page.
#[utoipa::path(
    post, path = "/logout", tag = "dashboard",
    responses(
        (status = 303, description = "The admin cookie is cleared, on to `/login`"),
    )
)]
pub async fn logout() -> Response {
    let cookie = format!("{ADMIN_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    with_cookie(Redirect::to(LOGIN_PATH), &cookie)
}

/// `GET /login.css`: the dashboard's stylesheet, open so the login page is styled.
pub async fn stylesheet() -> Response {
    dashboard::page(dashboard::CSS_TYPE, dashboard::STYLESHEET)
}

/// What the cookie holds for `token`: its bytes in hex, which any token survives.
pub(crate) fn cookie_value(token: &str) -> String {
    token.bytes().map(|byte| format!("{byte:02x}")).collect()
}

fn with_cookie(redirect: Redirect, cookie: &str) -> Response {
    let mut response = redirect.into_response();
    // Made only of a fixed name, fixed attributes and hex digits.
    let value = HeaderValue::from_str(cookie).expect("a cookie of ASCII letters and digits");
    response.headers_mut().insert(header::SET_COOKIE, value);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The form, with `message` (a fixed text, never the input) above it.
fn form_page(status: StatusCode, message: Option<&str>) -> Response {
    let message = message.map_or(String::new(), |text| {
        format!(r#"<p class="form-error" role="alert">{text}</p>"#)
    });
    let body = LOGIN_PAGE.replace(MESSAGE_SLOT, &message);
    let mut response = dashboard::page(dashboard::HTML_TYPE, body);
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_value_is_the_token_in_hex() {
        assert_eq!(cookie_value("a; b"), "613b2062");
        assert_eq!(cookie_value(""), "");
    }

    #[test]
    fn the_page_has_a_slot_for_the_message() {
        assert!(LOGIN_PAGE.contains(MESSAGE_SLOT));
    }
}
