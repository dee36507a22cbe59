//! Response builders: JSON bodies with the exact Content-Type, the DriftQ
//! error body, 204s, and the router's plain-text and JSON 404s.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

use crate::error::ApiError;
use crate::json::body_line;

const JSON: &str = "application/json; charset=utf-8";

/// A JSON response: Go-escaped body followed by `\n`.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let mut resp = Response::new(Body::from(body_line(value)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    resp
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct OverloadBody<'a> {
    error: &'a str,
    message: &'a str,
    reason: &'a str,
    retry_after_ms: u64,
}

/// The error body for an [`ApiError`]; 429s carry `reason`, `retry_after_ms` and `Retry-After`.
pub fn error(err: &ApiError) -> Response {
    let message = err.to_string();
    if let ApiError::Overloaded(reason) = err {
        let body = OverloadBody {
            error: err.code(),
            message: &message,
            reason: reason.as_str(),
            retry_after_ms: 1000,
        };
        let mut resp = json(err.status(), &body);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return resp;
    }
    json(
        err.status(),
        &ErrorBody {
            error: err.code(),
            message: &message,
        },
    )
}

/// 204 with an empty body and no Content-Type.
pub fn no_content() -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// 405 with the `Allow` header.
pub fn method_not_allowed(allow: &'static str) -> Response {
    let body = ErrorBody {
        error: "METHOD_NOT_ALLOWED",
        message: "method not allowed",
    };
    let mut resp = json(StatusCode::METHOD_NOT_ALLOWED, &body);
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

/// The JSON 404 for paths outside `/v1/`.
pub fn not_found_json() -> Response {
    json(
        StatusCode::NOT_FOUND,
        &ErrorBody {
            error: "NOT_FOUND",
            message: "use /v1/* endpoints",
        },
    )
}

/// Go's router 404 for unknown paths under `/v1/`: plain text, not JSON.
pub fn not_found_text() -> Response {
    let mut resp = Response::new(Body::from("404 page not found\n"));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// A redirect to the cleaned path (Go's router does this for `/v1` and unclean paths).
pub fn redirect(location: &str) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}
