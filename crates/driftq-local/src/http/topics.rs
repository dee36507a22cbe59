//! `GET /v1/topics` and `POST /v1/topics` (§2.3, §2.4).

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde::de::MapAccess;

use crate::error::ApiError;
use crate::http::gojson::{self, GoStruct, go_deserialize};
use crate::http::input::Input;
use crate::http::limits;
use crate::http::{AppState, response};

pub use crate::http::limits::MAX_PARTITIONS;

#[derive(Serialize)]
struct TopicList<'a> {
    topics: Vec<&'a str>,
}

/// Lists topic names, sorted by bytes; `[]` when empty.
pub fn list(app: &AppState) -> Response {
    let state = app.shared.lock();
    let topics = state.topics.keys().map(String::as_str).collect();
    response::json(StatusCode::OK, &TopicList { topics })
}

#[derive(Default)]
struct CreateBody {
    name: Option<String>,
    partitions: Option<i64>,
}

impl GoStruct for CreateBody {
    const FIELDS: &'static [&'static str] = &["name", "partitions"];

    fn set_field<'de, A: MapAccess<'de>>(&mut self, i: usize, m: &mut A) -> Result<(), A::Error> {
        match i {
            0 => gojson::keep(&mut self.name, m),
            _ => gojson::keep(&mut self.partitions, m),
        }
    }
}
go_deserialize!(CreateBody);

#[derive(Serialize)]
struct Created<'a> {
    status: &'static str,
    name: &'a str,
    partitions: i64,
}

/// Creates a topic; always 201 and echoes the requested count (Q3).
pub fn create(app: &AppState, input: &Input) -> Result<Response, ApiError> {
    let (name, partitions) = match input {
        Input::Query(q) => {
            let raw = q.trimmed("partitions");
            let partitions = if raw.is_empty() {
                0
            } else {
                raw.parse::<i64>()
                    .map_err(|_| ApiError::invalid("invalid partitions"))?
            };
            (q.raw("name"), partitions)
        }
        Input::Body(body) => {
            let b: CreateBody = gojson::decode_struct(body)?;
            (b.name.unwrap_or_default(), b.partitions.unwrap_or(0))
        }
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("name is required"));
    }
    limits::topic_name(name)?;
    let partitions = match partitions {
        0 => 1,
        n if n < 0 => return Err(ApiError::invalid("invalid partitions")),
        n => n,
    };
    let count = u32::try_from(partitions)
        .ok()
        .filter(|n| *n <= MAX_PARTITIONS)
        .ok_or_else(|| ApiError::invalid("invalid partitions"))?;
    app.shared.lock().create_topic(name, count);
    Ok(response::json(
        StatusCode::CREATED,
        &Created {
            status: "created",
            name,
            partitions,
        },
    ))
}
