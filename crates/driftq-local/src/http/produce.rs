//! `POST /v1/produce` (§2.5): the query form and its validation in the
//! documented order, and waiting for durability before answering. The JSON
//! form is in [`super::produce_json`].

use std::time::Instant;

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::deadline::{self, Deadline};
use crate::error::ApiError;
use crate::http::input::{self, Input, Query};
use crate::http::{AppState, limits, produce_json, response};
use crate::model::{Envelope, RetryPolicy};
use crate::state::produce::{ProduceRequest, Produced};

#[derive(Serialize)]
struct ProducedBody<'a> {
    status: &'static str,
    topic: &'a str,
}

/// Handles a produce: validate, store under the lock, wait until durable.
pub async fn produce(app: &AppState, input: &Input) -> Result<Response, ApiError> {
    let req = match input {
        Input::Query(q) => from_query(q)?,
        Input::Body(body) => produce_json::from_json(body)?,
    };
    limits::produce(&req)?;
    // After a failed append nothing can become durable: refuse before storing.
    app.shared.wal.check()?;
    let topic = req.topic.clone();
    let produced = {
        let mut state = app.shared.lock();
        let produced = state.produce(req, Instant::now());
        let mark = state.log.take_mark();
        produced.map(|p| (p, mark))?
    };
    match produced {
        (Produced::Stored { seq, idem: None }, mark) => {
            app.shared.wal.wait_durable(seq.max(mark)).await?;
        }
        (Produced::Stored { seq, idem }, mark) => {
            // The wait runs in its own task so that a client hanging up cannot
            // leave an idempotency reservation unsettled.
            let shared = std::sync::Arc::clone(&app.shared);
            let settle = tokio::spawn(async move {
                let result = shared.wal.wait_durable(seq.max(mark)).await;
                shared
                    .lock()
                    .settle_produce(idem, result.is_ok(), Instant::now());
                result
            });
            settle
                .await
                .map_err(|e| ApiError::invalid(e.to_string()))??;
        }
        (Produced::Duplicate, _) => {}
    }
    Ok(response::json(
        StatusCode::OK,
        &ProducedBody {
            status: "produced",
            topic: &topic,
        },
    ))
}

fn int_param(q: &Query, name: &str) -> Result<Option<i64>, ApiError> {
    let raw = q.trimmed(name);
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse()
        .map(Some)
        .map_err(|_| ApiError::invalid(format!("invalid {name}")))
}

fn query_deadline(q: &Query) -> Result<Option<Deadline>, ApiError> {
    let rfc = q.trimmed("deadline_rfc3339");
    if !rfc.is_empty() {
        let d = deadline::parse_rfc3339(&rfc)
            .map_err(|e| ApiError::invalid(format!("invalid deadline_rfc3339: {e}")))?;
        return Ok(Some(d));
    }
    let ms = q.trimmed("deadline_ms");
    if ms.is_empty() {
        return Ok(None);
    }
    let value: i64 = ms.parse().map_err(|e| {
        ApiError::invalid(format!(
            "invalid deadline_ms: {}",
            input::parse_int_error(&ms, &e)
        ))
    })?;
    deadline::from_unix_ms(value)
        .map(Some)
        .ok_or_else(|| ApiError::invalid("invalid deadline_ms: value out of range"))
}

/// §2.5.1, checks in the documented order.
fn from_query(q: &Query) -> Result<ProduceRequest, ApiError> {
    let partition_override = match int_param(q, "partition_override") {
        Ok(Some(p)) if p < 0 => return Err(ApiError::invalid("invalid partition_override")),
        other => other?,
    };
    let deadline = query_deadline(q)?;
    let attempts = int_param(q, "retry_max_attempts")?;
    let backoff = int_param(q, "retry_backoff_ms")?;
    let max_backoff = int_param(q, "retry_max_backoff_ms")?;
    for (value, name) in [
        (attempts, "retry_max_attempts"),
        (backoff, "retry_backoff_ms"),
        (max_backoff, "retry_max_backoff_ms"),
    ] {
        if value.is_some_and(|v| v < 0) {
            return Err(ApiError::invalid(format!("invalid {name}")));
        }
    }
    let max_attempts = attempts.unwrap_or(0);
    if (backoff.is_some() || max_backoff.is_some()) && max_attempts == 0 {
        return Err(ApiError::invalid(
            "retry_max_attempts must be > 0 when using retry backoff params",
        ));
    }
    let topic = q.raw("topic");
    let value = q.bytes("value").to_vec();
    if topic.trim().is_empty() || value.is_empty() {
        return Err(ApiError::invalid("topic and value are required"));
    }
    let policy = RetryPolicy {
        max_attempts,
        backoff_ms: backoff.unwrap_or(0),
        max_backoff_ms: max_backoff.unwrap_or(0),
    };
    let alias = |name: &str, alias: &str| {
        let v = q.trimmed(name);
        if v.is_empty() { q.trimmed(alias) } else { v }
    };
    let envelope = Envelope {
        run_id: q.trimmed("run_id"),
        step_id: q.trimmed("step_id"),
        parent_step_id: q.trimmed("parent_step_id"),
        tenant_id: alias("tenant_id", "tenant"),
        idempotency_key: alias("idempotency_key", "idem_key"),
        target_topic: q.trimmed("target_topic"),
        deadline: deadline.as_ref().map(|d| d.rendered.clone()),
        retry_policy: (policy != RetryPolicy::default()).then_some(policy),
        partition_override,
    };
    Ok(ProduceRequest {
        topic,
        key: q.bytes("key").to_vec(),
        value,
        envelope: (envelope != Envelope::default()).then_some(envelope),
        deadline: deadline.map(|d| d.at),
    })
}
