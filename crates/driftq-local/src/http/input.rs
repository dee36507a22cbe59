//! Request input (§1.6): the query string, or — when the request has a body —
//! the body as JSON, never both. Query values are raw bytes (keys and values
//! may be arbitrary bytes after percent-decoding), first occurrence wins.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Bodies larger than this are refused (the real broker has no explicit limit).
const MAX_BODY: usize = 32 << 20;

/// Parsed query string.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Query {
    /// Parses `a=1&b=2` like Go's `url.ParseQuery` (pairs with bad escapes are skipped).
    pub fn parse(raw: Option<&str>) -> Self {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or("").split('&') {
            if part.is_empty() || part.contains(';') {
                continue;
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            if let (Some(k), Some(v)) = (unescape(k), unescape(v)) {
                pairs.push((k, v));
            }
        }
        Query { pairs }
    }

    /// Raw bytes of the first value of `name` ("" when absent).
    pub fn bytes(&self, name: &str) -> &[u8] {
        self.pairs
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map_or(&[], |(_, v)| v)
    }

    /// The first value of `name` as text (invalid UTF-8 replaced).
    pub fn raw(&self, name: &str) -> String {
        String::from_utf8_lossy(self.bytes(name)).into_owned()
    }

    /// The first value of `name`, trimmed.
    pub fn trimmed(&self, name: &str) -> String {
        self.raw(name).trim().to_owned()
    }
}

fn unescape(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

/// Where a request's parameters come from.
#[derive(Debug)]
pub enum Input {
    /// No body: the query string.
    Query(Query),
    /// A body: JSON, the query string is ignored.
    Body(Bytes),
}

/// "Has a body" as Go sees it: Content-Length other than 0, or a chunked body.
fn has_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() != "0")
}

/// Reads the request's input; a body must arrive within `timeout`.
pub async fn read(
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
    timeout: Duration,
) -> Result<Input, ApiError> {
    if !has_body(headers) {
        return Ok(Input::Query(Query::parse(query)));
    }
    let read = axum::body::to_bytes(body, MAX_BODY);
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(bytes)) => Ok(Input::Body(bytes)),
        Ok(Err(e)) => Err(ApiError::invalid(format!("invalid json body: {e}"))),
        Err(_) => Err(ApiError::invalid("invalid json body: i/o timeout")),
    }
}

/// Decodes the first JSON value of a body; trailing bytes are ignored as in Go.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<T>();
    match stream.next() {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(ApiError::invalid(format!("invalid json body: {e}"))),
        None => Err(ApiError::invalid("invalid json body: EOF")),
    }
}

/// Go's `strconv.ParseInt` error text, used in `invalid deadline_ms: …`.
pub fn parse_int_error(s: &str, e: &std::num::ParseIntError) -> String {
    use std::num::IntErrorKind;
    let what = match e.kind() {
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => "value out of range",
        _ => "invalid syntax",
    };
    format!("strconv.ParseInt: parsing {s:?}: {what}")
}
