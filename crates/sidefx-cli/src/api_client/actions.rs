//! A run's durable history (`GET /runs/{id}/history`), the dead-letter actions
//! (`POST /runs/{id}/redrive`, `POST /runs/{id}/discard`, `POST /dlq/redrive`) and the worker
//! registry (`GET /debug/workers`). The actions are admin routes: the client sends its admin
//! token with every request, when it has one.
//!
//! The actions are not retried when the connection fails: whether the first request took
//! effect is unknown then, and the API refuses a repeat (409, the run is no longer
//! dead-lettered), so the caller is told instead.

use serde::Serialize;
use serde::de::DeserializeOwned;
pub use sidefx_api::routes::dead_letters::{BulkRedriveResponse, RefusedRedrive};
pub use sidefx_api::routes::history::{HistoryEntry, RunHistory};
use sidefx_core::RunId;

use super::error::{ApiError, Problem, Request, describe};
use super::retry::{Attempts, Failure, retrying};
use super::{ApiClient, REQUEST_TIMEOUT, RunView, WorkersResponse, check};

/// Events asked for per page of the history (the API's largest page).
const HISTORY_PAGE: u32 = 1000;
/// Pages read at most: a run's history is a few dozen events, so more is a server bug.
const MAX_HISTORY_PAGES: usize = 1000;

/// The body of `POST /dlq/redrive`: which dead-lettered runs to redrive (the API's own
/// `BulkRedriveBody` is read-only).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RedriveAll {
    /// Only the runs of this business key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_key: Option<String>,
    /// At most this many runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Why, for the `run.redriven` events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `{"reason": …}`, the body of a single run's action.
#[derive(Debug, Serialize)]
struct Reason<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

impl ApiClient {
    /// Every event of the run, oldest first, read a page at a time; `None` when the API does
    /// not know the run.
    pub async fn history(&self, run_id: &RunId) -> Result<Option<Vec<HistoryEntry>>, ApiError> {
        let mut events = Vec::new();
        let mut after: Option<i64> = None;
        for _ in 0..MAX_HISTORY_PAGES {
            let after_param = after.map_or_else(String::new, |seq| format!("&after={seq}"));
            let url = format!(
                "{}/runs/{run_id}/history?limit={HISTORY_PAGE}{after_param}",
                self.base
            );
            let page: RunHistory = match self.get_json(url, REQUEST_TIMEOUT, &[]).await {
                Err(e) if e.status() == Some(404) => return Ok(None),
                answer => answer?,
            };
            events.extend(page.events);
            match page.next_after {
                // A cursor that does not move would page for ever.
                Some(next) if after.is_none_or(|a| next > a) => after = Some(next),
                _ => return Ok(Some(events)),
            }
        }
        Ok(Some(events))
    }

    /// `POST /runs/{id}/redrive`: the run again from its dead letter; the run afterwards.
    pub async fn redrive(&self, run_id: &RunId, reason: Option<&str>) -> Result<RunView, ApiError> {
        let url = format!("{}/runs/{run_id}/redrive", self.base);
        self.post_json(url, &Reason { reason }).await
    }

    /// `POST /runs/{id}/discard`: gives the dead-lettered run up for good, saying why.
    pub async fn discard(&self, run_id: &RunId, reason: &str) -> Result<RunView, ApiError> {
        let url = format!("{}/runs/{run_id}/discard", self.base);
        let reason = Some(reason);
        self.post_json(url, &Reason { reason }).await
    }

    /// `POST /dlq/redrive`: every dead-lettered run `which` selects.
    pub async fn redrive_all(&self, which: &RedriveAll) -> Result<BulkRedriveResponse, ApiError> {
        let url = format!("{}/dlq/redrive", self.base);
        self.post_json(url, which).await
    }

    /// `GET /debug/workers`: the worker processes seen in the last day.
    pub async fn workers(&self, limit: u32) -> Result<WorkersResponse, ApiError> {
        let url = format!("{}/debug/workers?limit={limit}", self.base);
        self.get_json(url, REQUEST_TIMEOUT, &[]).await
    }

    /// POSTs `body` as JSON to `url` and decodes the answer; only a 503 (nothing was done)
    /// is retried.
    async fn post_json<B, T>(&self, url: String, body: &B) -> Result<T, ApiError>
    where
        B: Serialize + Sync + ?Sized,
        T: DeserializeOwned,
    {
        let (http, target) = (&self.http, &url);
        let answer = retrying(
            self.retry_budget,
            &mut Attempts::default(),
            move || async move {
                let response = http
                    .post(target)
                    .timeout(REQUEST_TIMEOUT)
                    .json(body)
                    .send()
                    .await
                    .map_err(|e| Failure::Final(Problem::Transport(describe(&e))))?;
                let response = check(response, &[]).await?;
                let decoded = response.json().await;
                decoded.map_err(|e| Failure::Final(Problem::Body(describe(&e))))
            },
        )
        .await;
        answer.map_err(|problem| ApiError {
            request: Request {
                method: "POST",
                url,
            },
            problem,
        })
    }
}
