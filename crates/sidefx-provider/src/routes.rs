//! The router and its handlers: each extracts, calls the core ([`crate::charge`] or the
//! store) and maps the result to a response.

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use crate::charge::{self, ChargeOutcome};
use crate::conn::ConnectionControl;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::StoredResponse;
use crate::wire::{ChargeList, IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAYED_HEADER, Ledger};

/// Longest idempotency key accepted (Stripe's limit).
const MAX_KEY_LEN: usize = 255;

/// The provider's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/v1/charges", post(create_charge).get(list_charges))
        .route("/_ledger", get(ledger).delete(reset_ledger))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .with_state(state)
}

async fn create_charge(
    State(state): State<AppState>,
    control: Option<Extension<ConnectionControl>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let key = match idempotency_key(&headers) {
        Ok(key) => key,
        Err(err) => {
            tracing::info!(outcome = %err.label(), error = %err, "charge request");
            return err.into_response();
        }
    };
    match charge::create_charge(&state, &key, body).await {
        Ok(ChargeOutcome::Executed {
            drop_connection: true,
            response,
        }) => match control {
            Some(Extension(control)) => control.drop_unanswered().await,
            // Served without a connection of ours (in-process tests): answer instead.
            None => stored(response, false),
        },
        Ok(ChargeOutcome::Executed { response, .. }) => stored(response, false),
        Ok(ChargeOutcome::Replayed(response)) => stored(response, true),
        Err(err) => err.into_response(),
    }
}

/// The key header, present, UTF-8, 1 to 255 bytes.
fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers.get(IDEMPOTENCY_KEY_HEADER).ok_or_else(|| {
        ApiError::MissingKey(format!("the {IDEMPOTENCY_KEY_HEADER} header is required"))
    })?;
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= MAX_KEY_LEN => Ok(key.to_owned()),
        _ => Err(ApiError::InvalidRequest(format!(
            "invalid {IDEMPOTENCY_KEY_HEADER}: must be 1 to {MAX_KEY_LEN} visible ASCII characters"
        ))),
    }
}

/// A stored answer, byte for byte, marked when it is a replay.
fn stored(response: StoredResponse, replayed: bool) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    let mut reply = (status, Body::from(response.body)).into_response();
    let headers = reply.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if replayed {
        headers.insert(IDEMPOTENT_REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    reply
}

/// Query of `GET /v1/charges`.
#[derive(Debug, Deserialize)]
struct ListQuery {
    reference: Option<String>,
}

async fn list_charges(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ChargeList>, ApiError> {
    let query = query.map_err(|r| ApiError::InvalidRequest(r.body_text()))?;
    let reference = query.0.reference.ok_or_else(|| {
        ApiError::InvalidRequest("invalid reference: the query parameter is required".to_owned())
    })?;
    let data = state.store.list_charges(&reference).await?;
    Ok(Json(ChargeList { data }))
}

async fn ledger(State(state): State<AppState>) -> Result<Json<Ledger>, ApiError> {
    let mut ledger = state.store.ledger().await?;
    ledger.in_flight = state.inflight.keys();
    Ok(Json(ledger))
}

async fn reset_ledger(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    state.store.reset().await?;
    tracing::info!("ledger reset");
    Ok(Json(serde_json::json!({"status": "reset"})))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}
