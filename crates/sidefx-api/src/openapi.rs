//! The OpenAPI document (served at `/openapi.json`, rendered by Swagger UI at `/docs`). Every
//! route, body and error response is listed here through the handlers' `#[utoipa::path]`.

use utoipa::OpenApi;

use crate::error::ErrorBody;
use crate::routes::{dead_letters, debug, events, health, history, metrics, runs, verify, workers};
use crate::run_request::{CreateRunBody, RunRequest};

/// The API description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "sidefx API",
        description = "Start runs whose side effect happens exactly once, however often the \
            step is retried or redelivered; watch their events; inspect the side-effect table, \
            the tickets and the dead letters. Every error is `{\"error\": CODE, \"message\": …}`."
    ),
    paths(
        runs::create_run,
        runs::list_runs,
        runs::get_run,
        events::stream_run_events,
        history::run_history,
        dead_letters::redrive_run,
        dead_letters::discard_run,
        dead_letters::redrive_many,
        health::healthz,
        metrics::metrics,
        debug::side_effects,
        debug::artifacts,
        debug::dlq,
        verify::verify,
        workers::workers,
        crate::login::login,
        crate::login::logout,
    ),
    components(schemas(
        ErrorBody,
        CreateRunBody,
        RunRequest,
        runs::CreateRunResponse,
        runs::RunList,
        runs::RunSummary,
        runs::RunView,
        history::RunHistory,
        history::HistoryEntry,
        dead_letters::RedriveBody,
        dead_letters::DiscardBody,
        dead_letters::BulkRedriveBody,
        dead_letters::BulkRedriveResponse,
        dead_letters::RefusedRedrive,
        health::HealthResponse,
        health::DriftqHealth,
        health::Backpressure,
        debug::SideEffectView,
        debug::SideEffectsResponse,
        debug::ArtifactsResponse,
        debug::DlqResponse,
        verify::VerifyResponse,
        workers::WorkerView,
        workers::WorkersResponse,
        sidefx_core::Event,
        crate::login::LoginForm,
    )),
    tags(
        (name = "runs", description = "Create runs and follow them"),
        (name = "dead letters", description = "Redrive or discard dead-lettered runs (admin)"),
        (name = "health", description = "Liveness and broker reachability"),
        (name = "debug", description = "Read-only views of the store, the tickets, the DLQ and the workers"),
        (name = "dashboard", description = "The dashboard's login (the pages are at `/ui/`)"),
    )
)]
pub struct ApiDoc;
