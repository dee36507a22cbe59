//! Request extractors whose rejections are [`ApiError`]s, so a bad body, query, path or header
//! gets the same JSON error shape as everything else (axum's own rejections are plain text).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use sidefx_core::RunId;

use crate::error::ApiError;
use crate::timeouts::BodyTimeout;

/// Name of the request header that makes `POST /runs` idempotent.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// Longest accepted `Idempotency-Key` (it is stored in the runs table).
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// A JSON body. Unlike `axum::Json`, a type error names the field it happened in
/// (`amount: invalid type: string "x", expected f64`) and every rejection is an [`ApiError`]:
/// wrong content type → 422, not JSON → 400, too large → 413, wrong shape → 422.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(req.headers()) {
            return Err(ApiError::invalid(
                "content-type",
                "expected `Content-Type: application/json`",
            ));
        }
        // The whole body must arrive within the body deadline (a total, so a client that
        // trickles bytes cannot hold the request open); `timeouts::request_deadline` sets it.
        let deadline = req.extensions().get::<BodyTimeout>().map(|t| t.0);
        let read = Bytes::from_request(req, state);
        let read = match deadline {
            Some(deadline) => tokio::time::timeout(deadline, read)
                .await
                .map_err(|_| ApiError::RequestTimeout)?,
            None => read.await,
        };
        // Reading through `Bytes` applies `DefaultBodyLimit`; its rejection says 413.
        let body = read.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::invalid("body", rejection.body_text())
            }
        })?;
        decode_json(&body).map(ApiJson)
    }
}

/// Decodes `body` as one JSON object, tracking the path of a type error.
pub(crate) fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    use serde_json::error::Category;

    // serde's derived structs also accept arrays (`["k", 1]` would be a run for key "k"), so
    // insist on an object before decoding. Every body of this API is an object.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|&b| b != b'{') {
        return match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => Err(ApiError::invalid("body", "must be a JSON object")),
            Err(err) => Err(ApiError::MalformedJson(err.to_string())),
        };
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let field = match err.path().to_string() {
            root if root == "." => "body".to_owned(),
            path => path,
        };
        let inner = err.into_inner();
        match inner.classify() {
            Category::Data => ApiError::invalid(field, inner.to_string()),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::MalformedJson(inner.to_string())
            }
        }
    })?;
    // Trailing data after the document (`{} {}`) is malformed too.
    deserializer
        .end()
        .map_err(|err| ApiError::MalformedJson(err.to_string()))?;
    Ok(value)
}

/// `application/json`, optionally with parameters, or any `application/*+json` type.
fn has_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}

/// A query string; a malformed one is a 422 naming `query`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|rejection| ApiError::invalid("query", rejection.body_text()))
    }
}

/// The `{run_id}` path segment as a [`RunId`]. A segment that is not a valid run id cannot
/// name a run, so it is a 404 like an unknown id (never a 500, never axum's plain text).
#[derive(Debug, Clone)]
pub struct RunIdPath(pub RunId);

impl<S: Send + Sync> FromRequestParts<S> for RunIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::RunNotFound)?;
        RunId::parse(&raw)
            .map(RunIdPath)
            .map_err(|_| ApiError::RunNotFound)
    }
}

/// The optional `Idempotency-Key` header: 1–255 visible ASCII characters, at most one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_idempotency_key(&parts.headers).map(IdempotencyKey)
    }
}

/// Validates the header; the store keeps the key, so it must be bounded and printable.
fn parse_idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let invalid = |message: &str| ApiError::invalid("Idempotency-Key", message);
    let mut values = headers.get_all(IDEMPOTENCY_KEY_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid("send the header at most once"));
    }
    let bytes = value.as_bytes();
    let visible = bytes.iter().all(|b| b.is_ascii_graphic());
    if bytes.is_empty() || bytes.len() > MAX_IDEMPOTENCY_KEY_LEN || !visible {
        return Err(invalid(
            "must be 1-255 visible ASCII characters (no spaces)",
        ));
    }
    // Visible ASCII is valid UTF-8, so this never fails.
    Ok(value.to_str().ok().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    #[test]
    fn json_content_types() {
        let ok = [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge+json",
        ];
        for value in ok {
            assert!(
                has_json_content_type(&headers(&[("content-type", value)])),
                "{value}"
            );
        }
        let bad = [
            "text/plain",
            "application/x-www-form-urlencoded",
            "json",
            "",
        ];
        for value in bad {
            assert!(
                !has_json_content_type(&headers(&[("content-type", value)])),
                "{value}"
            );
        }
        assert!(!has_json_content_type(&HeaderMap::new()));
    }

    #[test]
    fn idempotency_key_rules() {
        assert_eq!(parse_idempotency_key(&HeaderMap::new()).ok(), Some(None));
        let key = parse_idempotency_key(&headers(&[(IDEMPOTENCY_KEY_HEADER, "order-42:v1")]));
        assert_eq!(key.ok(), Some(Some("order-42:v1".to_owned())));
        let long = "k".repeat(256);
        for bad in ["", "has space", long.as_str()] {
            let err = parse_idempotency_key(&headers(&[(IDEMPOTENCY_KEY_HEADER, bad)]));
            assert!(
                matches!(err, Err(ApiError::InvalidRequest { .. })),
                "{bad:?}"
            );
        }
        let twice = headers(&[(IDEMPOTENCY_KEY_HEADER, "a"), (IDEMPOTENCY_KEY_HEADER, "b")]);
        assert!(parse_idempotency_key(&twice).is_err());
    }

    #[derive(Debug, serde::Deserialize)]
    struct Probe {
        #[allow(dead_code)]
        amount: f64,
    }

    #[test]
    fn decode_names_the_field_or_reports_malformed_json() {
        let err = decode_json::<Probe>(br#"{"amount":"x"}"#).unwrap_err();
        assert!(matches!(&err, ApiError::InvalidRequest { field, .. } if field == "amount"));
        let err = decode_json::<Probe>(br#"{"amount":1"#).unwrap_err();
        assert!(matches!(err, ApiError::MalformedJson(_)));
        let err = decode_json::<Probe>(br#"{"amount":1} {}"#).unwrap_err();
        assert!(matches!(err, ApiError::MalformedJson(_)));
        for not_an_object in [&br#""text""#[..], b"[1]", b" 7 "] {
            let err = decode_json::<Probe>(not_an_object).unwrap_err();
            assert!(matches!(&err, ApiError::InvalidRequest { field, .. } if field == "body"));
        }
        let err = decode_json::<Probe>(b"[1").unwrap_err();
        assert!(matches!(err, ApiError::MalformedJson(_)));
    }
}
