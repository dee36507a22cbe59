//! `GET /v1/consume` (§2.6): validation, then the NDJSON stream.
//!
//! The status line and headers are withheld until the first item exists
//! (Q16): the handler itself awaits the first item before it returns the
//! response. Each item is one body frame, which hyper writes and flushes as it
//! arrives. The stream never ends on its own; it is unregistered when the
//! client goes away (hyper drops the handler future or the body, and with it
//! the [`StreamGuard`]) and ends on shutdown (the sender is dropped).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures::StreamExt;
use serde::de::MapAccess;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::error::ApiError;
use crate::http::AppState;
use crate::http::gojson::{self, GoStruct, go_deserialize};
use crate::http::input::Input;
use crate::http::limits;
use crate::state::Shared;
use crate::state::stream_budget::{Disconnect, StreamBudget};
use crate::state::streams::StreamKey;

/// Validated consume parameters.
#[derive(Debug)]
struct ConsumeParams {
    topic: String,
    group: String,
    owner: String,
    lease: Duration,
}

#[derive(Default)]
struct ConsumeBody {
    topic: Option<String>,
    group: Option<String>,
    owner: Option<String>,
    lease_ms: Option<i64>,
}

impl GoStruct for ConsumeBody {
    const FIELDS: &'static [&'static str] = &["topic", "group", "owner", "lease_ms"];

    fn set_field<'de, A: MapAccess<'de>>(&mut self, i: usize, m: &mut A) -> Result<(), A::Error> {
        match i {
            0 => gojson::keep(&mut self.topic, m),
            1 => gojson::keep(&mut self.group, m),
            2 => gojson::keep(&mut self.owner, m),
            _ => gojson::keep(&mut self.lease_ms, m),
        }
    }
}
go_deserialize!(ConsumeBody);

fn params(input: &Input, default_lease: Duration) -> Result<ConsumeParams, ApiError> {
    let (topic, group, owner, lease_ms) = match input {
        Input::Query(q) => {
            let raw = q.trimmed("lease_ms");
            let lease_ms = if raw.is_empty() {
                0
            } else {
                raw.parse::<i64>()
                    .map_err(|_| ApiError::invalid("invalid lease_ms"))?
            };
            (q.raw("topic"), q.raw("group"), q.raw("owner"), lease_ms)
        }
        Input::Body(body) => {
            let b: ConsumeBody = gojson::decode_struct(body)?;
            let text = |v: Option<String>| v.unwrap_or_default();
            (
                text(b.topic),
                text(b.group),
                text(b.owner),
                b.lease_ms.unwrap_or(0),
            )
        }
    };
    let (topic, group, owner) = (topic.trim(), group.trim(), owner.trim());
    if topic.is_empty() || group.is_empty() || owner.is_empty() {
        return Err(ApiError::invalid("topic, group, and owner are required"));
    }
    if lease_ms < 0 {
        return Err(ApiError::invalid("invalid lease_ms"));
    }
    limits::name("group", group)?;
    limits::name("owner", owner)?;
    Ok(ConsumeParams {
        topic: topic.to_owned(),
        group: group.to_owned(),
        owner: owner.to_owned(),
        lease: lease_from_ms(lease_ms, default_lease),
    })
}

/// 0 means the default; like Go, the millisecond count is turned into
/// nanoseconds with wrap-around, and a result ≤ 0 also falls back to the default.
fn lease_from_ms(ms: i64, default: Duration) -> Duration {
    let nanos = ms.wrapping_mul(1_000_000);
    u64::try_from(nanos)
        .ok()
        .filter(|n| *n > 0)
        .map_or(default, Duration::from_nanos)
}

/// Unregisters the stream when dropped.
struct StreamGuard {
    shared: Arc<Shared>,
    key: StreamKey,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.shared.lock().close_stream(&self.key);
        tracing::debug!(topic = %self.key.topic, group = %self.key.group, "consume stream closed");
    }
}

/// Opens a stream and answers once the first item is there. `disconnect` closes this
/// request's connection if the client stops reading (see `state::stream_budget`).
pub async fn consume(
    app: &AppState,
    input: &Input,
    disconnect: Option<Disconnect>,
) -> Result<Response, ApiError> {
    let (default_lease, limit) = {
        let state = app.shared.lock();
        let limits = &state.limits;
        (limits.default_lease(), limits.max_stream_buffer_bytes)
    };
    let p = params(input, default_lease)?;
    let names = (p.topic.clone(), p.group.clone(), p.owner.clone());
    let budget = StreamBudget::new(limit, disconnect, names);
    let (key, mut rx) = app.shared.lock().open_stream(
        &p.topic,
        &p.group,
        &p.owner,
        p.lease,
        Arc::clone(&budget),
        Instant::now(),
    )?;
    let guard = StreamGuard {
        shared: Arc::clone(&app.shared),
        key,
    };
    let first = next_item(&mut rx, &budget).await;
    Ok(stream_response(first, rx, budget, guard))
}

/// The next queued item, handing its bytes back to the budget; `None` ends the stream
/// (shutdown, or the stream was cut off for not reading).
async fn next_item(rx: &mut UnboundedReceiver<Bytes>, budget: &StreamBudget) -> Option<Bytes> {
    let item = rx.recv().await?;
    budget.release(item.len());
    (!budget.is_overflowed()).then_some(item)
}

fn stream_response(
    first: Option<Bytes>,
    rx: UnboundedReceiver<Bytes>,
    budget: Arc<StreamBudget>,
    guard: StreamGuard,
) -> Response {
    let state = (rx, budget, guard);
    let rest = futures::stream::unfold(state, |(mut rx, budget, guard)| async move {
        let item = next_item(&mut rx, &budget).await?;
        Some((item, (rx, budget, guard)))
    });
    let items = futures::stream::iter(first)
        .chain(rest)
        .map(Ok::<_, Infallible>);
    let mut resp = Response::new(Body::from_stream(items));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson; charset=utf-8"),
    );
    resp
}
