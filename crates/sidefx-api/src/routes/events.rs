//! `GET /runs/{run_id}/events`: a run's events as Server-Sent Events, live from DriftQ.

use std::time::Duration;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::response::IntoResponse;
use axum::response::sse::{KeepAlive, Sse};
use driftq_client::ConsumeRequest;
use futures::StreamExt;
use serde::Deserialize;
use sidefx_core::{RunId, events_topic};
use utoipa::IntoParams;

use crate::conn_limit::ConnectionSlot;
use crate::error::{ApiError, ErrorBody};
use crate::event_stream::run_event_stream;
use crate::extract::{ApiQuery, RunIdPath};
use crate::state::AppState;

/// Lease of the SSE consumer (the original's 30 s); an event not acked by then goes to the
/// group's next connection.
const EVENTS_LEASE: Duration = Duration::from_secs(30);
/// Comment lines keep proxies and browsers from closing an idle stream.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// Longest `client_id` kept (longer ones are truncated, as the original did).
const MAX_CLIENT_ID_CHARS: usize = 32;

/// Query of the events stream.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Names this viewer's consumer group (`events-<run_id>-<client_id>`); two tabs with
    /// different ids both see every event. Default `default`; truncated to 32 characters of
    /// `[A-Za-z0-9_.-]`.
    pub client_id: Option<String>,
}

/// Streams the run's events: `sse.connected` first, then each event as `data: <json>`.
#[utoipa::path(
    get, path = "/runs/{run_id}/events", tag = "runs",
    params(("run_id" = String, Path, description = "Run id from `POST /runs`"), EventsQuery),
    responses(
        (status = 200, description = "`text/event-stream`; each `data:` line is one event \
            (first `{\"type\":\"sse.connected\",\"run_id\":…}`)",
            content_type = "text/event-stream", body = sidefx_core::Event),
        (status = 404, description = "Unknown or malformed run id", body = ErrorBody),
        (status = 422, description = "Invalid client_id", body = ErrorBody),
        (status = 500, description = "Store failure", body = ErrorBody),
        (status = 503, description = "Broker or store unavailable, or too many streams open \
            (`too_many_streams`, in total or for this client); see Retry-After", body = ErrorBody),
    )
)]
pub async fn stream_run_events(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    slot: Option<Extension<ConnectionSlot>>,
    RunIdPath(run_id): RunIdPath,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<impl IntoResponse, ApiError> {
    // Admitted streams are bounded here and give their connection slot back, so open
    // streams never take the slots requests need (see `stream_limit.rs`).
    // Without a peer (a router driven in-process) every stream counts as one client.
    let client = peer.map_or(
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        |Extension(ConnectInfo(a))| a.ip(),
    );
    let permit = state.stream_limits.admit(client)?;
    // The durable registry, so runs created before an API restart still stream.
    state
        .store
        .get_run(&run_id)
        .await?
        .ok_or(ApiError::RunNotFound)?;
    let group = events_group(&run_id, query.client_id.as_deref())?;
    let topic = events_topic(&run_id);
    state.publisher.ensure_topic(&topic).await?;
    let request = ConsumeRequest::new(topic, group, &*state.owner).lease(EVENTS_LEASE);
    // End the stream when shutdown starts, or graceful shutdown would wait for the client.
    if let Some(Extension(slot)) = slot {
        slot.release();
    }
    // The permit lives as long as the stream's body.
    let events = run_event_stream(state.publisher.clone(), &run_id, request)
        .take_until(state.shutdown_started())
        .map(move |event| {
            let _held = &permit;
            event
        });
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE_INTERVAL));
    // Tells nginx-style proxies not to buffer the stream (the original sent it too).
    Ok(([("x-accel-buffering", "no")], sse))
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
