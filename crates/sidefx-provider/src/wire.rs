//! The provider's wire contract: the JSON bodies of `/v1/charges` and `/_ledger`. Always
//! compiled and serde-only, so that the worker, the CLI and any other server speaking the same
//! contract share one definition.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Request header carrying the caller's idempotency key (required on `POST /v1/charges`).
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// Response header set to `true` when the body is the stored answer of an earlier request.
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// The only value of [`Charge::status`] this provider produces.
pub const STATUS_SUCCEEDED: &str = "succeeded";

/// Prefix of references the simulator declines (permanently, with 402 `card_declined`).
pub const DECLINE_PREFIX: &str = "decline-";

/// Body of `POST /v1/charges`. Unknown fields are rejected, as a typo in a payment request
/// should fail loudly rather than charge without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    /// Amount in minor units (cents), greater than zero.
    pub amount: u64,
    /// Lowercase ISO currency code, e.g. `usd`.
    pub currency: String,
    /// The caller's business key; `GET /v1/charges?reference=` finds charges by it.
    pub reference: String,
    /// Free-form string pairs echoed back on the charge; not part of the idempotency check.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// A charge that succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// Provider-assigned id, `ch_…`.
    pub id: String,
    /// Amount in minor units.
    pub amount: u64,
    /// Lowercase ISO currency code.
    pub currency: String,
    /// The business key the charge was made for.
    pub reference: String,
    /// Always [`STATUS_SUCCEEDED`] here.
    pub status: String,
    /// Creation time, Unix seconds.
    pub created: i64,
    /// The request's metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// Body of `GET /v1/charges?reference=R`: the succeeded charges for `R`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeList {
    /// The charges.
    pub data: Vec<Charge>,
}

/// Body of every error response: `{"error": {"type", "code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// One error: a broad `type`, a precise `code` and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// One of [`error_type`].
    #[serde(rename = "type")]
    pub type_: String,
    /// One of [`error_code`].
    pub code: String,
    /// For people; never parse it.
    pub message: String,
}

/// Values of [`ErrorDetail::type_`].
pub mod error_type {
    /// The request is malformed (400).
    pub const INVALID_REQUEST: &str = "invalid_request_error";
    /// The idempotency key conflicts with another request (400 reused, 409 in flight).
    pub const IDEMPOTENCY: &str = "idempotency_error";
    /// The card was declined (402).
    pub const CARD: &str = "card_error";
    /// Too many requests (429).
    pub const RATE_LIMIT: &str = "rate_limit_error";
    /// The provider failed (500, 503).
    pub const API: &str = "api_error";
}

/// Values of [`ErrorDetail::code`].
pub mod error_code {
    /// No `Idempotency-Key` header.
    pub const MISSING_IDEMPOTENCY_KEY: &str = "missing_idempotency_key";
    /// The body or a header is invalid; the message names the field.
    pub const PARAMETER_INVALID: &str = "parameter_invalid";
    /// No such route or object.
    pub const RESOURCE_MISSING: &str = "resource_missing";
    /// The key was used before with other parameters.
    pub const IDEMPOTENCY_KEY_REUSED: &str = "idempotency_key_reused";
    /// The key's first request is still being processed.
    pub const REQUEST_IN_FLIGHT: &str = "request_in_flight";
    /// The card was declined.
    pub const CARD_DECLINED: &str = "card_declined";
    /// Rate limited.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// Temporarily unavailable; nothing was done.
    pub const SERVICE_UNAVAILABLE: &str = "service_unavailable";
    /// Internal failure; nothing was committed.
    pub const INTERNAL: &str = "internal_error";
}

/// Body of `GET /_ledger`: what really happened, for test harnesses counting executions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// Succeeded charges per reference (business key): more than one is a double charge.
    pub charges_per_reference: BTreeMap<String, u64>,
    /// Every `POST /v1/charges` carrying each key, replays, 409s and faults included.
    pub requests_per_key: BTreeMap<String, u64>,
    /// Every succeeded charge, oldest first.
    pub charges: Vec<LedgerCharge>,
    /// Number of succeeded charges.
    pub total_charges: u64,
    /// Number of `POST /v1/charges` requests that carried a key.
    pub total_requests: u64,
    /// Number of declines executed (replays of a decline not counted).
    pub declines: u64,
    /// Keys whose first request is being processed right now (not part of the fixed contract;
    /// other servers may omit it).
    #[serde(default)]
    pub in_flight: Vec<String>,
}

/// One succeeded charge as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerCharge {
    /// The charge id.
    pub id: String,
    /// The business key.
    pub reference: String,
    /// Amount in minor units.
    pub amount: u64,
    /// Lowercase ISO currency code.
    pub currency: String,
    /// The idempotency key of the request that executed it.
    pub idempotency_key: String,
    /// Creation time, Unix seconds.
    pub created: i64,
}
