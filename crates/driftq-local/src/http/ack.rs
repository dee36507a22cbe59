//! `POST /v1/ack` and `POST /v1/nack` (§2.7, §2.8): the query and JSON-object
//! forms, checks 1–5 here, the rest in [`crate::state::acks`].

use std::time::Instant;

use axum::response::Response;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::http::input::{self, Input};
use crate::http::{AppState, response};
use crate::state::acks::AckTarget;

/// Ack or nack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `POST /v1/ack`.
    Ack,
    /// `POST /v1/nack`.
    Nack,
}

impl Kind {
    fn allowed(self) -> &'static [&'static str] {
        match self {
            Kind::Ack => &["topic", "group", "owner", "partition", "offset"],
            Kind::Nack => &["topic", "group", "owner", "partition", "offset", "reason"],
        }
    }
}

/// Raw fields before checks 3–5.
struct Fields {
    topic: String,
    group: String,
    owner: String,
    partition: i64,
    offset: i64,
    reason: String,
}

fn from_query(q: &input::Query) -> Result<Fields, ApiError> {
    let (partition, offset) = (q.trimmed("partition"), q.trimmed("offset"));
    if partition.is_empty() || offset.is_empty() {
        return Err(ApiError::invalid("partition and offset are required"));
    }
    let partition = partition
        .parse::<i32>()
        .map_err(|_| ApiError::invalid("invalid partition"))?;
    let offset = offset
        .parse::<i64>()
        .map_err(|_| ApiError::invalid("invalid offset"))?;
    Ok(Fields {
        topic: q.raw("topic"),
        group: q.raw("group"),
        owner: q.raw("owner"),
        partition: partition.into(),
        offset,
        reason: q.raw("reason"),
    })
}

fn from_json(body: &[u8], kind: Kind) -> Result<Fields, ApiError> {
    let obj: Map<String, Value> = input::decode(body)?;
    if let Some(unknown) = obj.keys().find(|k| !kind.allowed().contains(&k.as_str())) {
        return Err(ApiError::invalid(format!("unknown field: {unknown}")));
    }
    // Non-string text members are treated as empty, as in the real broker.
    let text = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let int = |k: &str, err: &str| match obj.get(k) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v.as_i64().ok_or_else(|| ApiError::invalid(err)),
    };
    let partition = int("partition", "invalid partition")?;
    if i32::try_from(partition).is_err() {
        return Err(ApiError::invalid("invalid partition"));
    }
    let offset = int("offset", "invalid offset")?;
    Ok(Fields {
        topic: text("topic"),
        group: text("group"),
        owner: text("owner"),
        partition,
        offset,
        reason: text("reason"),
    })
}

/// Checks 3–5.
fn target(f: Fields) -> Result<(AckTarget, String), ApiError> {
    let (topic, group, owner) = (f.topic.trim(), f.group.trim(), f.owner.trim());
    if topic.is_empty() || group.is_empty() || owner.is_empty() {
        return Err(ApiError::invalid("topic, group, and owner are required"));
    }
    let partition = u32::try_from(f.partition)
        .map_err(|_| ApiError::invalid("partition cannot be negative"))?;
    let offset =
        u64::try_from(f.offset).map_err(|_| ApiError::invalid("offset cannot be negative"))?;
    let t = AckTarget {
        topic: topic.to_owned(),
        group: group.to_owned(),
        owner: owner.to_owned(),
        partition,
        offset,
    };
    Ok((t, f.reason))
}

/// Handles an ack or nack; answers 204 once its WAL records are durable.
pub async fn handle(app: &AppState, input: &Input, kind: Kind) -> Result<Response, ApiError> {
    let fields = match input {
        Input::Query(q) => from_query(q)?,
        Input::Body(body) => from_json(body, kind)?,
    };
    let (t, reason) = target(fields)?;
    crate::http::limits::reason(&reason)?;
    // After a failed append nothing can become durable: refuse before changing state.
    app.shared.wal.check()?;
    let seq = {
        let mut state = app.shared.lock();
        let result = match kind {
            Kind::Ack => state.ack(&t, Instant::now()),
            Kind::Nack => state.nack(&t, &reason, Instant::now()),
        };
        let seq = state.log.take_mark();
        result.map(|()| seq)?
    };
    app.shared.wal.wait_durable(seq).await?;
    Ok(response::no_content())
}
