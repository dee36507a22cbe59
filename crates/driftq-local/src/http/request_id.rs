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

/// 12 random bytes as 24 lowercase hex digits, without per-byte allocations
/// (this runs for every request).
fn generate() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes: [u8; 12] = rand::rng().random();
    let mut hex = [0u8; 24];
    for (i, b) in bytes.iter().enumerate() {
        hex[2 * i] = HEX[usize::from(b >> 4)];
        hex[2 * i + 1] = HEX[usize::from(b & 0x0f)];
    }
    HeaderValue::from_bytes(&hex)
        .unwrap_or_else(|_| HeaderValue::from_static("000000000000000000000000"))
}
