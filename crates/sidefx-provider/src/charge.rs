//! Where a charge is decided: parse, replay a stored answer, claim the key, draw the faults,
//! execute and commit. The order of these steps is what makes retries safe; read it before
//! changing anything.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use rand::Rng;
use rand::distr::Alphanumeric;

use crate::clock::Clock;
use crate::error::ApiError;
use crate::faults::FaultPlan;
use crate::state::AppState;
use crate::store::{Commit, Execution, StoredResponse};
use crate::wire::{
    Charge, ChargeRequest, DECLINE_PREFIX, ErrorBody, ErrorDetail, STATUS_SUCCEEDED, error_code,
    error_type,
};

/// Largest amount accepted, in minor units (Stripe's limit for USD: $999,999.99).
const MAX_AMOUNT: u64 = 99_999_999;

/// Longest reference accepted, in bytes.
const MAX_REFERENCE_LEN: usize = 255;

/// How a charge request that was not refused ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// Executed by this request (a charge, 200, or a decline, 402) and stored under the key.
    /// With `drop_connection` the fault plan says: hang up instead of answering.
    Executed {
        /// The stored answer.
        response: StoredResponse,
        /// Drop the connection without answering (drop-after-commit fault).
        drop_connection: bool,
    },
    /// An earlier request with this key executed; this is its stored answer.
    Replayed(StoredResponse),
}

impl ChargeOutcome {
    /// A short label for the request log.
    fn label(&self) -> &'static str {
        match self {
            ChargeOutcome::Executed {
                response,
                drop_connection,
            } => match (response.status == 200, drop_connection) {
                (true, false) => "charged",
                (true, true) => "charged_then_dropped",
                (false, false) => "declined",
                (false, true) => "declined_then_dropped",
            },
            ChargeOutcome::Replayed(_) => "replayed",
        }
    }
}

/// Handles one `POST /v1/charges` carrying `key`, and logs how it ended.
pub async fn create_charge(
    state: &AppState,
    key: &str,
    body: Result<Bytes, BytesRejection>,
) -> Result<ChargeOutcome, ApiError> {
    // Counted first: the ledger's requests_per_key includes refusals and faults.
    state.store.record_request(key).await?;
    let request = match body.map_err(|r| ApiError::InvalidRequest(r.body_text())) {
        Ok(bytes) => parse_request(&bytes),
        Err(err) => Err(err),
    };
    let request = request.inspect_err(|err| {
        tracing::info!(key = %key, outcome = %err.label(), error = %err, "charge request");
    })?;
    let result = charge_once(state, key, &request).await;
    let outcome = match &result {
        Ok(outcome) => outcome.label(),
        Err(err) => err.label(),
    };
    tracing::info!(key = %key, reference = %request.reference, outcome = %outcome, "charge request");
    result
}

/// The decision for a valid request.
async fn charge_once(
    state: &AppState,
    key: &str,
    request: &ChargeRequest,
) -> Result<ChargeOutcome, ApiError> {
    let fingerprint = fingerprint(request);
    // A committed key is answered from the store, whatever the faults say.
    if let Some(stored) = state.store.lookup(key).await? {
        return replay(stored, &fingerprint);
    }
    let Some(claim) = state.inflight.try_claim(key) else {
        return Err(ApiError::InFlight);
    };
    // Look again under the claim: the key's first request may have committed and released
    // its claim between our lookup and our claim. Without this it would execute twice.
    if let Some(stored) = state.store.lookup(key).await? {
        return replay(stored, &fingerprint);
    }
    let (hold, drop_connection) = match state.faults.plan() {
        FaultPlan::RateLimit => return Err(ApiError::RateLimited),
        FaultPlan::FailBeforeCommit => return Err(ApiError::Unavailable),
        FaultPlan::Execute {
            hold,
            drop_connection,
        } => (hold, drop_connection),
    };
    if !hold.is_zero() {
        // The claim is held meanwhile: a concurrent request with this key gets 409.
        tokio::time::sleep(hold).await;
    }
    let (response, execution) = execute(request, fingerprint.clone(), state.store.clock());
    // The claim travels into the commit and is released only after it ended.
    match state
        .store
        .commit(key, response.clone(), execution, claim)
        .await?
    {
        Commit::Committed => Ok(ChargeOutcome::Executed {
            response,
            drop_connection,
        }),
        Commit::AlreadyStored(stored) => replay(stored, &fingerprint),
    }
}

/// The stored answer, if the key was first used with the same parameters.
fn replay(stored: StoredResponse, fingerprint: &str) -> Result<ChargeOutcome, ApiError> {
    if stored.fingerprint == fingerprint {
        Ok(ChargeOutcome::Replayed(stored))
    } else {
        Err(ApiError::KeyReused)
    }
}

/// What identifies "the same request" for a key: amount, currency and reference (metadata is
/// not compared, as Stripe does). JSON keeps it unambiguous whatever the reference contains.
fn fingerprint(request: &ChargeRequest) -> String {
    serde_json::json!([request.amount, request.currency, request.reference]).to_string()
}

/// The simulated card network: references starting with `decline-` are declined.
fn execute(
    request: &ChargeRequest,
    fingerprint: String,
    clock: &Clock,
) -> (StoredResponse, Execution) {
    if request.reference.starts_with(DECLINE_PREFIX) {
        let body = ErrorBody {
            error: ErrorDetail {
                type_: error_type::CARD.to_owned(),
                code: error_code::CARD_DECLINED.to_owned(),
                message: "your card was declined".to_owned(),
            },
        };
        // Serialising plain structs with string keys cannot fail.
        let body = serde_json::to_string(&body).unwrap_or_default();
        let response = StoredResponse {
            fingerprint,
            status: 402,
            body,
        };
        return (response, Execution::Decline);
    }
    let charge = Charge {
        id: new_charge_id(),
        amount: request.amount,
        currency: request.currency.clone(),
        reference: request.reference.clone(),
        status: STATUS_SUCCEEDED.to_owned(),
        created: clock.now_millis() / 1000,
        metadata: request.metadata.clone(),
    };
    let body = serde_json::to_string(&charge).unwrap_or_default();
    let response = StoredResponse {
        fingerprint,
        status: 200,
        body,
    };
    (response, Execution::Charge(charge))
}

/// `ch_` and 24 random alphanumerics, like Stripe's ids.
fn new_charge_id() -> String {
    let suffix: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    format!("ch_{suffix}")
}

/// Parses and checks the body; every message names the offending field.
fn parse_request(body: &[u8]) -> Result<ChargeRequest, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut request: ChargeRequest = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // Syntax errors have no meaningful path ("?"); data errors name the field.
        let path = e.path().to_string();
        let field = match e.inner().classify() {
            serde_json::error::Category::Data if path != "." && path != "?" => path,
            _ => "body".to_owned(),
        };
        ApiError::InvalidRequest(format!("invalid {field}: {}", e.inner()))
    })?;
    de.end()
        .map_err(|e| ApiError::InvalidRequest(format!("invalid body: {e}")))?;
    if !(1..=MAX_AMOUNT).contains(&request.amount) {
        return Err(ApiError::InvalidRequest(format!(
            "invalid amount: must be an integer from 1 to {MAX_AMOUNT} (minor units)"
        )));
    }
    if request.currency.len() != 3 || !request.currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ApiError::InvalidRequest(
            "invalid currency: must be a three-letter ISO code such as \"usd\"".to_owned(),
        ));
    }
    request.currency.make_ascii_lowercase();
    if request.reference.is_empty() || request.reference.len() > MAX_REFERENCE_LEN {
        return Err(ApiError::InvalidRequest(format!(
            "invalid reference: must be 1 to {MAX_REFERENCE_LEN} bytes"
        )));
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> String {
        parse_request(body.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn bad_bodies_are_refused_naming_the_field() {
        assert!(
            message(r#"{"amount": -5, "currency": "usd", "reference": "r"}"#).contains("amount")
        );
        assert!(
            message(r#"{"amount": 0, "currency": "usd", "reference": "r"}"#).contains("amount")
        );
        assert!(message(r#"{"amount": 5, "currency": 1, "reference": "r"}"#).contains("currency"));
        assert!(
            message(r#"{"amount": 5, "currency": "usdx", "reference": "r"}"#).contains("currency")
        );
        assert!(
            message(r#"{"amount": 5, "currency": "usd", "reference": ""}"#).contains("reference")
        );
        let unknown = message(r#"{"amount": 5, "currency": "usd", "reference": "r", "x": 1}"#);
        assert!(unknown.contains('x'), "{unknown}");
        assert!(message(r#"{"amount": 5, "currency": "usd"}"#).contains("reference"));
        assert!(message("not json").contains("body"));
    }

    #[test]
    fn a_good_body_parses_with_currency_lowercased() {
        let body = r#"{"amount": 5, "currency": "USD", "reference": "r", "metadata": {"a": "b"}}"#;
        let request = parse_request(body.as_bytes()).unwrap();
        assert_eq!(request.currency, "usd");
        assert_eq!(request.metadata["a"], "b");
    }
}
