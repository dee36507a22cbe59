//! The HTTP API of sidefx: create runs (`POST /runs`, idempotent with `Idempotency-Key`),
//! follow them (`GET /runs/{id}`, SSE at `/runs/{id}/events`), check health, and inspect the
//! side effects, tickets, dead letters and worker processes (`/debug/*`). OpenAPI at
//! `/openapi.json`, Swagger UI at `/docs`; the dashboard at `/ui/`, locked with the admin
//! token like `/debug/*` (login at `/login`).
//!
//! [`app`] builds the router (tests drive it with `tower::ServiceExt::oneshot`); [`serve`]
//! runs it until a shutdown future completes.

pub mod admin_auth;
pub mod broker_pressure;
pub mod config;
pub mod conn_limit;
pub mod cors;
pub mod dashboard;
pub mod error;
mod error_sources;
mod event_stream;
pub mod extract;
mod history_feed;
pub mod host_check;
pub mod login;
pub mod openapi;
pub mod outbox;
pub mod routes;
mod run_messages;
pub mod run_request;
mod serve;
pub mod state;
pub mod stream_limit;
pub mod timeouts;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Span;
use utoipa::OpenApi;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

pub use config::ApiConfig;
pub use cors::AllowedOrigins;
pub use error::{ApiError, ErrorBody};
pub use state::{ApiStartError, AppState};

use routes::{dead_letters, debug, events, health, history, metrics, runs, verify, workers};

/// Largest request body accepted (a run request is a few hundred bytes).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The router with every route, the JSON fallbacks and the middleware stack.
pub fn app(state: AppState) -> Router {
    let middleware = ServiceBuilder::new()
        // Outermost first: every request gets an id, the span and the response carry it.
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(log_response)
                // The error itself is logged once, by `ApiError::into_response`.
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(state.allowed_origins.layer())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            host_check::check_host,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin_auth::require_token,
        ));
    Router::new()
        .route("/runs", post(runs::create_run).get(runs::list_runs))
        .route("/runs/{run_id}", get(runs::get_run))
        .route("/runs/{run_id}/events", get(events::stream_run_events))
        .route("/runs/{run_id}/history", get(history::run_history))
        .route("/runs/{run_id}/redrive", post(dead_letters::redrive_run))
        .route("/runs/{run_id}/discard", post(dead_letters::discard_run))
        .route("/dlq/redrive", post(dead_letters::redrive_many))
        .route(
            "/healthz",
            get(health::healthz).layer(axum::middleware::map_response(quiet_access_log)),
        )
        .route("/debug/side-effects", get(debug::side_effects))
        .route("/debug/artifacts", get(debug::artifacts))
        .route("/debug/dlq", get(debug::dlq))
        .route("/debug/verify", get(verify::verify))
        .route("/debug/workers", get(workers::workers))
        .route("/metrics", get(metrics::metrics))
        .route("/", get(dashboard::to_dashboard))
        .route("/ui", get(dashboard::to_dashboard))
        .route("/ui/", get(dashboard::index))
        .route("/ui/{*file}", get(dashboard::file))
        .route("/login", get(login::login_page).post(login::login))
        .route("/login.css", get(login::stylesheet))
        .route("/logout", post(login::logout))
        .merge(
            SwaggerUi::new("/docs")
                .url("/openapi.json", openapi::ApiDoc::openapi())
                // Swagger UI's default validator is a badge loaded from the internet: broken
                // off line and a request to a third party from every page view.
                .config(SwaggerConfig::default().validator_url("none")),
        )
        .fallback(routes::route_not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        // Inside the router, so every route (and the fallback) sees its `MatchedPath`.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            timeouts::request_deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            broker_pressure::observe,
        ))
        .layer(axum::middleware::from_fn(metrics::track_requests))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware)
        .with_state(state)
}

/// Marks a response whose access line is logged at debug level: health probes come every
/// few seconds (compose, `sidefx`, load balancers) and would bury the requests that matter.
#[derive(Debug, Clone, Copy)]
struct QuietAccessLog;

async fn quiet_access_log(mut response: Response) -> Response {
    response.extensions_mut().insert(QuietAccessLog);
    response
}

/// The access line of every response: info, or debug for a [`QuietAccessLog`] route.
fn log_response<B>(response: &axum::http::Response<B>, latency: Duration, _span: &Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if response.extensions().get::<QuietAccessLog>().is_some() {
        tracing::debug!(status, latency_ms, "finished processing request");
    } else {
        tracing::info!(status, latency_ms, "finished processing request");
    }
}

/// One span per request, carrying the id set by `SetRequestIdLayer`.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id,
    )
}

/// A handler panic is a bug; the client still gets the JSON error shape, not a torn
/// connection (the panic message goes to the log through the error's `Display`).
#[expect(
    clippy::needless_pass_by_value,
    reason = "the signature CatchPanicLayer::custom expects"
)]
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".to_owned());
    ApiError::Internal(format!("handler panicked: {detail}")).into_response()
}

/// Serves [`app`] on `listener`, with the run outbox's relay, until `shutdown` completes;
/// then stops accepting, ends open SSE streams and waits for in-flight requests to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let signal_state = state.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutdown started; ending event streams");
        signal_state.begin_shutdown();
    };
    let relay = tokio::spawn(outbox::run_relay(state.clone(), state.shutdown_started()));
    let listener = conn_limit::LimitedListener::new(listener, state.max_connections);
    let header_timeout = state.timeouts.header;
    let served = serve::serve_connections(listener, app(state), header_timeout, signal).await;
    // Whatever the relay had not published stays in the outbox for the next start.
    relay.abort();
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_generic_500() {
        let response = panic_response(Box::new("secret detail"));
        assert_eq!(
            response.status(),
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
