//! `X-Request-Id` (§1.4): echo a non-blank client id (trimmed), otherwise
//! generate 24 lowercase hex characters.

use axum::http::{HeaderMap, HeaderValue};
use rand::Rng;

/// The id to put on the response.
pub fn for_request(headers: &HeaderMap) -> HeaderValue {
    let supplied = headers
        .get("x-request-id")
        .map(|v| v.as_bytes().trim_ascii())
        .filter(|v| !v.is_empty())
        .and_then(|v| HeaderValue::from_bytes(v).ok());
    supplied.unwrap_or_else(generate)
}

fn generate() -> HeaderValue {
    let bytes: [u8; 12] = rand::rng().random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&hex)
        .unwrap_or_else(|_| HeaderValue::from_static("000000000000000000000000"))
}
