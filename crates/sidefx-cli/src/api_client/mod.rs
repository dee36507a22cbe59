//! The one client of the sidefx API that every command uses, and the one to copy: typed by
//! the API's own response types (`sidefx_api::routes::*`, deserialised from the JSON the API
//! serialises), so a renamed field breaks the build instead of a demo. Each method is one
//! route; `POST /runs` sends an `Idempotency-Key`, and 503s are retried after their
//! `Retry-After` within a bounded budget (`retry.rs`).

mod actions;
mod args;
mod error;
mod events;
mod retry;

use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use sidefx_core::{BusinessKey, RunId, RunRequest};

pub use actions::{BulkRedriveResponse, HistoryEntry, RedriveAll, RefusedRedrive, RunHistory};
pub use args::{AdminArgs, api_url};
pub use error::{ApiError, EXIT_UNREACHABLE, Problem, Request, describe};
pub use events::{END_EVENT, EventStream, RunEvents, StreamItem};
pub use retry::Attempts;
use retry::{Failure, retry_after, retrying};
pub use sidefx_api::routes::debug::{
    ArtifactsResponse, DlqResponse, SideEffectView, SideEffectsResponse,
};
pub use sidefx_api::routes::runs::{CreateRunResponse, ListRunsQuery, RunList, RunView};
pub use sidefx_api::routes::verify::VerifyResponse;
pub use sidefx_api::routes::workers::{WorkerView, WorkersResponse};

/// How long a connection may take to open (a dead host fails fast; a restarting API is
/// refused at once anyway).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one request may take, except `/debug/verify` and the event stream.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// `/debug/verify` reads the whole store and tickets directory.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a call keeps retrying unless [`ApiClient::retrying_for`] says otherwise.
const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(10);

/// A client of one sidefx API. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    retry_budget: Duration,
}

impl ApiClient {
    /// A client of the API at `base` (`http://127.0.0.1:8000`) that sends `admin_token`, if
    /// any, with every request (`/debug/*` needs it when the API sets `API_ADMIN_TOKEN`).
    pub fn new(base: &str, admin_token: Option<&str>) -> anyhow::Result<Self> {
        Self::with_pool(base, admin_token, usize::MAX)
    }

    /// Like [`ApiClient::new`], keeping at most `idle` idle connections (one per concurrent
    /// request of a load generator).
    pub fn with_pool(base: &str, admin_token: Option<&str>, idle: usize) -> anyhow::Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = admin_token.filter(|t| !t.is_empty()) {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| anyhow::anyhow!("API_ADMIN_TOKEN is not a valid header value"))?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_max_idle_per_host(idle)
            .default_headers(headers)
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            retry_budget: DEFAULT_RETRY_BUDGET,
        })
    }

    /// Keeps retrying each call for up to `budget` (default 10 s).
    #[must_use]
    pub fn retrying_for(mut self, budget: Duration) -> Self {
        self.retry_budget = budget;
        self
    }

    /// The API's base URL, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `POST /runs` with `Idempotency-Key: idempotency_key`. Retried on 429/503 and when the
    /// API cannot be reached or cuts the answer off: the key makes a repeat return the run of
    /// the first request. `attempts` counts what it took.
    pub async fn create_run(
        &self,
        request: &RunRequest,
        idempotency_key: &str,
        attempts: &mut Attempts,
    ) -> Result<CreateRunResponse, ApiError> {
        let url = format!("{}/runs", self.base);
        let (http, target) = (&self.http, &url);
        let answer = retrying(self.retry_budget, attempts, move || async move {
            let cut_off = |e: reqwest::Error| Failure::Retry {
                why: describe(&e),
                after: None,
            };
            let response = http
                .post(target)
                .timeout(REQUEST_TIMEOUT)
                .header("Idempotency-Key", idempotency_key)
                .json(request)
                .send()
                .await
                .map_err(cut_off)?;
            match response.status() {
                s if s.is_success() => response.json().await.map_err(cut_off),
                s @ (StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) => {
                    Err(Failure::Retry {
                        why: format!("HTTP {}", s.as_u16()),
                        after: retry_after(&response),
                    })
                }
                _ => Err(Failure::Final(status_problem(response).await)),
            }
        })
        .await;
        answer.map_err(|problem| ApiError {
            request: Request {
                method: "POST",
                url,
            },
            problem,
        })
    }

    /// `GET /runs/{run_id}`: the durable run and its side effects; `None` when the API does
    /// not know the run.
    pub async fn run(&self, run_id: &RunId) -> Result<Option<RunView>, ApiError> {
        let url = format!("{}/runs/{run_id}", self.base);
        match self.get_json(url, REQUEST_TIMEOUT, &[]).await {
            Err(e) if e.status() == Some(404) => Ok(None),
            answer => answer.map(Some),
        }
    }

    /// `GET /runs/{run_id}/events` (SSE): the run's events from the start, or after the
    /// event `last_event_id` names (the `id:` of the last event a dropped stream delivered,
    /// sent as `Last-Event-ID`, so a reopened stream resumes where the last one stopped).
    pub async fn events(
        &self,
        run_id: &RunId,
        last_event_id: Option<&str>,
    ) -> Result<EventStream, ApiError> {
        let url = format!("{}/runs/{run_id}/events", self.base);
        let (http, target) = (&self.http, &url);
        let answer = retrying(
            self.retry_budget,
            &mut Attempts::default(),
            move || async move {
                let mut request = http
                    .get(target)
                    .header(reqwest::header::ACCEPT, "text/event-stream");
                if let Some(id) = last_event_id {
                    request = request.header("Last-Event-ID", id);
                }
                let response = request
                    .send()
                    .await
                    .map_err(|e| Failure::Final(Problem::Transport(describe(&e))))?;
                check(response, &[]).await.map(EventStream::new)
            },
        )
        .await;
        answer.map_err(|problem| ApiError {
            request: Request { method: "GET", url },
            problem,
        })
    }

    /// `GET /debug/verify`: the exactly-once evidence. With `settled`, both grace periods
    /// are 0 (ask an idle stack whether everything finished). 200 (clean) and 409 (a
    /// violation) both carry the report.
    pub async fn verify(&self, settled: bool) -> Result<VerifyResponse, ApiError> {
        let query = if settled {
            "?stale_after_ms=0&settle_after_ms=0"
        } else {
            ""
        };
        let url = format!("{}/debug/verify{query}", self.base);
        self.get_json(url, VERIFY_TIMEOUT, &[StatusCode::CONFLICT])
            .await
    }

    /// `GET /runs`: one page of runs, newest first, as `query` filters them.
    pub async fn runs(&self, query: &ListRunsQuery) -> Result<RunList, ApiError> {
        let mut url =
            reqwest::Url::parse(&format!("{}/runs", self.base)).map_err(|e| ApiError {
                request: Request {
                    method: "GET",
                    url: format!("{}/runs", self.base),
                },
                problem: Problem::Transport(e.to_string()),
            })?;
        {
            let mut pairs = url.query_pairs_mut();
            let params = [
                ("status", &query.status),
                ("business_key", &query.business_key),
                ("limit", &query.limit),
                ("before", &query.before),
            ];
            for (name, value) in params {
                if let Some(value) = value {
                    pairs.append_pair(name, value);
                }
            }
        }
        self.get_json(url.into(), REQUEST_TIMEOUT, &[]).await
    }

    /// `GET /debug/dlq`: the archived dead letters, newest first (`limit`: the API's default
    /// when `None`).
    pub async fn dlq(&self, limit: Option<usize>) -> Result<DlqResponse, ApiError> {
        let query = limit.map_or_else(String::new, |n| format!("?limit={n}"));
        let url = format!("{}/debug/dlq{query}", self.base);
        self.get_json(url, REQUEST_TIMEOUT, &[]).await
    }

    /// `GET /debug/side-effects?limit=…`: the most recently updated side-effect rows.
    pub async fn side_effects(&self, limit: usize) -> Result<SideEffectsResponse, ApiError> {
        let url = format!("{}/debug/side-effects?limit={limit}", self.base);
        self.get_json(url, REQUEST_TIMEOUT, &[]).await
    }

    /// `GET /debug/side-effects?business_key=…`: the rows of one business key.
    pub async fn side_effects_of(
        &self,
        key: &BusinessKey,
    ) -> Result<SideEffectsResponse, ApiError> {
        // A business key is `[A-Za-z0-9._:-]`: nothing in it needs escaping in a query.
        let url = format!("{}/debug/side-effects?business_key={key}", self.base);
        self.get_json(url, REQUEST_TIMEOUT, &[]).await
    }

    /// `GET /debug/artifacts`: the ticket files.
    pub async fn artifacts(&self) -> Result<ArtifactsResponse, ApiError> {
        let url = format!("{}/debug/artifacts", self.base);
        self.get_json(url, REQUEST_TIMEOUT, &[]).await
    }

    /// GETs `url` and decodes its JSON, retrying 503s; `also_ok` are statuses besides 2xx
    /// whose body is the answer too.
    async fn get_json<T: DeserializeOwned>(
        &self,
        url: String,
        timeout: Duration,
        also_ok: &[StatusCode],
    ) -> Result<T, ApiError> {
        let (http, target) = (&self.http, &url);
        let answer = retrying(
            self.retry_budget,
            &mut Attempts::default(),
            move || async move {
                let response = http
                    .get(target)
                    .timeout(timeout)
                    .send()
                    .await
                    .map_err(|e| Failure::Final(Problem::Transport(describe(&e))))?;
                let response = check(response, also_ok).await?;
                let body = response.json().await;
                body.map_err(|e| Failure::Final(Problem::Body(describe(&e))))
            },
        )
        .await;
        answer.map_err(|problem| ApiError {
            request: Request { method: "GET", url },
            problem,
        })
    }
}

/// The response when its status is 2xx or one of `also_ok`; a 503 is worth a retry.
async fn check(
    response: reqwest::Response,
    also_ok: &[StatusCode],
) -> Result<reqwest::Response, Failure> {
    let status = response.status();
    if status.is_success() || also_ok.contains(&status) {
        return Ok(response);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        return Err(Failure::Retry {
            why: "HTTP 503".to_owned(),
            after: retry_after(&response),
        });
    }
    Err(Failure::Final(status_problem(response).await))
}

/// The status and body of a refused request.
async fn status_problem(response: reqwest::Response) -> Problem {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Problem::Status {
        status,
        body: body.trim().to_owned(),
    }
}
