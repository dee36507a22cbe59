//! `GET /runs/{run_id}/events`: a run's events as Server-Sent Events, its recorded history
//! first, then live (see `event_stream.rs`).

use std::time::Duration;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{KeepAlive, Sse};
use futures::StreamExt;
use serde::Deserialize;
use sidefx_core::RunId;
use utoipa::IntoParams;

use crate::conn_limit::ConnectionSlot;
use crate::error::{ApiError, ErrorBody};
use crate::event_stream::{ViewerStart, run_event_stream};
use crate::extract::{ApiQuery, RunIdPath};
use crate::state::AppState;

/// Comment lines keep proxies and browsers from closing an idle stream.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// Longest `client_id` kept (longer ones are truncated, as the original did).
const MAX_CLIENT_ID_CHARS: usize = 32;
/// The header a reconnecting `EventSource` sends: the `id:` of the last frame it got.
const LAST_EVENT_ID: &str = "last-event-id";

/// Query of the events stream.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Accepted for the original's clients, and checked (`[A-Za-z0-9_.-]`); it changes
    /// nothing: every viewer sees every event, and no viewer leaves state on the broker.
    pub client_id: Option<String>,
}

/// Streams the run's events: `sse.connected`, every recorded event of the run in order, then
/// new ones as they happen, and `sse.end` after the run's terminal event.
///
/// Each event frame has `id: <seq>`, `event: <type>` and `data: <the event's JSON>`; send the
/// last `id` back as `Last-Event-ID` to resume after it (browsers' `EventSource` does). Any
/// number of viewers each get every event, at any time.
#[utoipa::path(
    get, path = "/runs/{run_id}/events", tag = "runs",
    params(
        ("run_id" = String, Path, description = "Run id from `POST /runs`"),
        ("Last-Event-ID" = Option<i64>, Header,
            description = "Resume after this event (the `id:` of the last frame received)"),
        EventsQuery,
    ),
    responses(
        (status = 200, description = "`text/event-stream`. Frames: `event: sse.connected` \
            (`{\"type\":\"sse.connected\",\"run_id\":…}`); then per event `id: <seq>`, \
            `event: <type>`, `data: <event>`; after the terminal event `event: sse.end` \
            (`{\"type\":\"sse.end\",\"run_id\":…,\"last_event_id\":…}`), then the \
            stream closes",
            content_type = "text/event-stream", body = sidefx_core::Event),
        (status = 404, description = "Unknown or malformed run id", body = ErrorBody),
        (status = 422, description = "Invalid client_id or Last-Event-ID", body = ErrorBody),
        (status = 500, description = "Store failure", body = ErrorBody),
        (status = 503, description = "Store unavailable, or too many streams open \
            (`too_many_streams`, in total or for this client); see Retry-After", body = ErrorBody),
    )
)]
pub async fn stream_run_events(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    slot: Option<Extension<ConnectionSlot>>,
    RunIdPath(run_id): RunIdPath,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<impl IntoResponse, ApiError> {
    // Checked for the original's clients; every viewer sees every event regardless.
    events_group(&run_id, query.client_id.as_deref())?;
    let after = last_event_id(&headers)?;
    // Admitted streams are bounded here and give their connection slot back, so open
    // streams never take the slots requests need (see `stream_limit.rs`).
    // Without a peer (a router driven in-process) every stream counts as one client.
    let client = peer.map_or(
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        |Extension(ConnectInfo(a))| a.ip(),
    );
    let permit = state.stream_limits.admit(client)?;
    let run = state
        .store
        .get_run(&run_id)
        .await?
        .ok_or(ApiError::RunNotFound)?;
    // Subscribed before the replay reads the store: nothing recorded meanwhile is missed.
    let live = state.history_feed.subscribe().await?;
    let start = ViewerStart {
        run_id,
        after,
        run_was_final: run.status.is_final(),
    };
    // End the stream when shutdown starts, or graceful shutdown would wait for the client.
    if let Some(Extension(slot)) = slot {
        slot.release();
    }
    // The permit lives as long as the stream's body.
    let events = run_event_stream(state.store.clone(), live, start)
        .take_until(state.shutdown_started())
        .map(move |event| {
            let _held = &permit;
            event
        });
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE_INTERVAL));
    // Tells nginx-style proxies not to buffer the stream (the original sent it too).
    Ok(([("x-accel-buffering", "no")], sse))
}

/// `Last-Event-ID`: the `seq` to resume after (0 when absent or empty).
fn last_event_id(headers: &HeaderMap) -> Result<i64, ApiError> {
    let Some(value) = headers.get(LAST_EVENT_ID) else {
        return Ok(0);
    };
    let text = value.to_str().unwrap_or("?").trim();
    if text.is_empty() {
        return Ok(0);
    }
    text.parse::<i64>()
        .ok()
        .filter(|seq| *seq >= 0)
        .ok_or_else(|| {
            ApiError::invalid(
                "Last-Event-ID",
                "must be the id of an event frame (a whole number, 0 or more)",
            )
        })
}

/// `events-<run_id>-<client_id>`, the original's group name.
fn events_group(run_id: &RunId, client_id: Option<&str>) -> Result<String, ApiError> {
    let raw = match client_id {
        None | Some("") => "default",
        Some(raw) => raw,
    };
    // The whole value is checked before it is cut: characters past the cut must not slip
    // through unchecked (a client would think they mattered).
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if !raw.chars().all(allowed) {
        return Err(ApiError::invalid("client_id", "use only [A-Za-z0-9_.-]"));
    }
    let client_id: String = raw.chars().take(MAX_CLIENT_ID_CHARS).collect();
    Ok(format!("events-{run_id}-{client_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_follow_the_original() {
        let run = RunId::parse("r1").unwrap();
        assert_eq!(
            events_group(&run, None).ok().as_deref(),
            Some("events-r1-default")
        );
        assert_eq!(
            events_group(&run, Some("")).ok().as_deref(),
            Some("events-r1-default")
        );
        assert_eq!(
            events_group(&run, Some("tab-2")).ok().as_deref(),
            Some("events-r1-tab-2")
        );
        let long = "x".repeat(40);
        let group = events_group(&run, Some(&long)).unwrap();
        assert_eq!(group.len(), "events-r1-".len() + 32);
        let bad_after_the_cut = format!("{}\n", "x".repeat(40));
        for bad in ["a b", "a/b", "é", &bad_after_the_cut] {
            assert!(events_group(&run, Some(bad)).is_err(), "{bad}");
        }
    }
}
