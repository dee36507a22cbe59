//! A typed client for the provider's wire contract (feature `client`). Its result types keep
//! apart the three things a caller of a payments API must tell apart: the provider answered
//! (and what), the request certainly never arrived, and "we do not know".

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;

use crate::wire::{
    Charge, ChargeList, ChargeRequest, ErrorBody, ErrorDetail, IDEMPOTENCY_KEY_HEADER,
    IDEMPOTENT_REPLAYED_HEADER, Ledger,
};

/// The provider's answer to `POST /v1/charges`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeReply {
    /// 200: the card was charged (`replayed`: this is the stored answer of an earlier request
    /// with the same key, not a new charge). Done: never charge again for this key.
    Charged {
        /// The charge.
        charge: Charge,
        /// `Idempotent-Replayed: true` was set.
        replayed: bool,
    },
    /// 402: the card was declined. Permanent: retrying with the same key replays the decline,
    /// and a new key would be a new payment attempt, a business decision.
    Declined {
        /// The `card_error` detail.
        error: ErrorDetail,
        /// `Idempotent-Replayed: true` was set.
        replayed: bool,
    },
    /// Any other status (400, 409, 429, 5xx): nothing was charged by this request. Use
    /// [`ChargeReply::is_retryable`] to classify it.
    Rejected {
        /// HTTP status.
        status: u16,
        /// The error body (synthesised from the status if the body was not the error shape).
        error: ErrorDetail,
        /// The `Retry-After` header, when given in seconds.
        retry_after: Option<Duration>,
    },
}

impl ChargeReply {
    /// True for answers worth retrying with the same key: 409 (the key's first request is still
    /// in flight), 429 and 5xx (the provider committed nothing). A 400 is permanent: the same
    /// request will be refused again.
    pub fn is_retryable(&self) -> bool {
        match self {
            ChargeReply::Rejected { status, .. } => {
                *status == 409 || *status == 429 || *status >= 500
            }
            ChargeReply::Charged { .. } | ChargeReply::Declined { .. } => false,
        }
    }
}

/// Why a call produced no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection could not be established: the request certainly did not reach the
    /// provider, so nothing happened. Safe to retry.
    #[error("provider not reached: {0}")]
    NotSent(#[source] reqwest::Error),
    /// The request was (or may have been) sent but no complete answer came back: timeout,
    /// reset, connection closed mid-response. The charge MAY have happened: retry with the
    /// same idempotency key (which replays it if it did) or look it up by reference.
    #[error("outcome unknown: {0}")]
    Unknown(#[source] reqwest::Error),
    /// The provider answered with a body this client cannot read. For a charge the outcome is
    /// as unknown as for [`ClientError::Unknown`].
    #[error("undecodable answer (status {status}): {message}")]
    Decode {
        /// HTTP status of the answer.
        status: u16,
        /// What did not parse.
        message: String,
    },
    /// A read-only call (list, ledger) was answered with an error status.
    #[error("provider answered {status}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The error message from the body, or the body itself.
        message: String,
    },
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

impl ClientError {
    fn from_send(err: reqwest::Error) -> Self {
        // Only a failed connect proves the request never left; anything later is unknown.
        if err.is_connect() {
            ClientError::NotSent(err)
        } else {
            ClientError::Unknown(err)
        }
    }
}

/// Client of one provider, cheap to clone (connections are pooled).
#[derive(Debug, Clone)]
pub struct ProviderClient {
    http: reqwest::Client,
    base_url: String,
}

impl ProviderClient {
    /// A client for `base_url` (e.g. `http://127.0.0.1:8090`); `timeout` bounds each whole call.
    pub fn new(base_url: impl Into<String>, timeout: Duration) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(ClientError::Build)?;
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        Ok(ProviderClient { http, base_url })
    }

    /// The base URL calls go to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `POST /v1/charges` with `idempotency_key`. Every answer is a [`ChargeReply`]; only a
    /// missing or unreadable answer is an error.
    pub async fn create_charge(
        &self,
        idempotency_key: &str,
        request: &ChargeRequest,
    ) -> Result<ChargeReply, ClientError> {
        let response = self
            .http
            .post(format!("{}/v1/charges", self.base_url))
            .header(IDEMPOTENCY_KEY_HEADER, idempotency_key)
            .json(request)
            .send()
            .await
            .map_err(ClientError::from_send)?;
        let status = response.status();
        let replayed = response
            .headers()
            .get(IDEMPOTENT_REPLAYED_HEADER)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse().ok())
            .map(Duration::from_secs);
        // A body cut off after the status line is as unknown as no answer at all.
        let body = response.bytes().await.map_err(ClientError::Unknown)?;
        match status {
            StatusCode::OK => Ok(ChargeReply::Charged {
                charge: decode(status, &body)?,
                replayed,
            }),
            StatusCode::PAYMENT_REQUIRED => Ok(ChargeReply::Declined {
                error: decode::<ErrorBody>(status, &body)?.error,
                replayed,
            }),
            _ => Ok(ChargeReply::Rejected {
                status: status.as_u16(),
                error: error_detail(status, &body),
                retry_after,
            }),
        }
    }

    /// `GET /v1/charges?reference=R`: the succeeded charges for `reference`, oldest first. The
    /// lookup that tells "charged but we never heard" apart from "never charged".
    pub async fn list_charges(&self, reference: &str) -> Result<Vec<Charge>, ClientError> {
        let request = self
            .http
            .get(format!("{}/v1/charges", self.base_url))
            .query(&[("reference", reference)]);
        Ok(self.get_json::<ChargeList>(request).await?.data)
    }

    /// `GET /_ledger`: the provider's record of real executions.
    pub async fn ledger(&self) -> Result<Ledger, ClientError> {
        let request = self.http.get(format!("{}/_ledger", self.base_url));
        self.get_json(request).await
    }

    /// `DELETE /_ledger`: forget every key, charge and count (tests only).
    pub async fn reset_ledger(&self) -> Result<(), ClientError> {
        let request = self.http.delete(format!("{}/_ledger", self.base_url));
        let response = request.send().await.map_err(ClientError::from_send)?;
        let status = response.status();
        let body = response.bytes().await.map_err(ClientError::Unknown)?;
        if status.is_success() {
            Ok(())
        } else {
            Err(status_error(status, &body))
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let response = request.send().await.map_err(ClientError::from_send)?;
        let status = response.status();
        let body = response.bytes().await.map_err(ClientError::Unknown)?;
        if !status.is_success() {
            return Err(status_error(status, &body));
        }
        decode(status, &body)
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    status: StatusCode,
    body: &[u8],
) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::Decode {
        status: status.as_u16(),
        message: e.to_string(),
    })
}

/// The error detail of a non-2xx answer; proxies and other servers may answer with a body that
/// is not the error shape, so one is synthesised from the status rather than failing.
fn error_detail(status: StatusCode, body: &[u8]) -> ErrorDetail {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) => parsed.error,
        Err(_) => ErrorDetail {
            type_: "unknown".to_owned(),
            code: format!("http_{}", status.as_u16()),
            message: String::from_utf8_lossy(body).into_owned(),
        },
    }
}

fn status_error(status: StatusCode, body: &[u8]) -> ClientError {
    ClientError::Status {
        status: status.as_u16(),
        message: error_detail(status, body).message,
    }
}
