//! Load against the API, as a well-behaved client would send it: runs are submitted at a
//! bounded concurrency over keep-alive connections, each `POST /runs` carries an
//! `Idempotency-Key` and is retried with it on connection errors and 503/429 (a restarted API
//! or a full broker must not turn into a lost or a double run; the policy is in
//! `api_client/retry.rs`), every accepted request is sent
//! once more to check the replay, and then each run is polled until it finished. The latency
//! of a run is from its first POST to its final status change (`updated_ms` of the run).

mod pool;
mod stats;

use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;
use sidefx_core::{RunId, RunRequest};

use crate::api_client::{ApiClient, Attempts, RunView};

pub use pool::map_concurrent;
pub use stats::{now_ms, percentile};

/// Pause between two polling rounds over the unfinished runs.
const POLL: Duration = Duration::from_millis(200);

/// How `request` must end: dead-lettered when it asked to fail on every attempt.
pub fn expected_end(request: &RunRequest) -> End {
    if request.fail_before_effect_n >= request.max_attempts {
        End::DeadLettered
    } else {
        End::Completed
    }
}

/// The two ways a run finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// `completed`: the side effect happened (once).
    Completed,
    /// `dead_lettered`: it never happened, and the dead letter is archived.
    DeadLettered,
}

/// What came of one submission.
#[derive(Debug, Clone)]
pub struct Submission {
    /// What was sent.
    pub spec: RunRequest,
    /// The `Idempotency-Key` of every attempt of this request.
    pub idempotency_key: String,
    /// The run id, once a POST succeeded.
    pub run_id: Option<RunId>,
    /// Wall clock (ms since the epoch) of the first POST attempt.
    pub submitted_ms: i64,
    /// The re-sent request answered with another run: the client's retry created a second run.
    pub replay_mismatch: bool,
    /// Why it was never accepted (the last error), if it was not.
    pub refused: Option<String>,
    /// Why each retried attempt failed ("HTTP 503", "connection refused", …), in order.
    pub retried: Vec<String>,
}

/// `GET /runs/{id}`, as the evidence reads it.
pub type RunState = RunView;

/// A client of one API with its concurrency and retry budget.
#[derive(Debug, Clone)]
pub struct Load {
    api: ApiClient,
    concurrency: usize,
}

impl Load {
    /// `concurrency` requests at a time; each POST is retried for up to `retry_for`.
    pub fn new(api: &str, concurrency: usize, retry_for: Duration) -> Result<Self> {
        let api = ApiClient::with_pool(api, None, concurrency)?.retrying_for(retry_for);
        Ok(Self {
            api,
            concurrency: concurrency.max(1),
        })
    }

    /// Submits every run (each with a fresh Idempotency-Key), then re-sends it once.
    pub async fn submit(&self, specs: Vec<RunRequest>) -> Vec<Submission> {
        let this = self.clone();
        map_concurrent(specs, self.concurrency, move |spec| {
            let this = this.clone();
            async move { this.submit_one(spec).await }
        })
        .await
    }

    async fn submit_one(&self, spec: RunRequest) -> Submission {
        let mut submission = self.submit_once(spec, "torture").await;
        if let Some(run_id) = &submission.run_id {
            // The client re-sends its request (a lost response, a double click): the
            // Idempotency-Key must give back the same run, not a second charge.
            let (spec, key) = (&submission.spec, &submission.idempotency_key);
            let mut attempts = Attempts::default();
            if let Ok(replayed) = self.api.create_run(spec, key, &mut attempts).await {
                submission.replay_mismatch = replayed.run_id != *run_id;
            }
        }
        submission
    }

    /// Submits one run with the Idempotency-Key `<key_prefix>-<business_key>`, retrying like
    /// [`Load::submit`] but without the replay (a benchmark sends each request once).
    pub async fn submit_once(&self, spec: RunRequest, key_prefix: &str) -> Submission {
        let submitted_ms = now_ms();
        let idempotency_key = format!("{key_prefix}-{}", spec.business_key);
        let mut attempts = Attempts::default();
        let created = self
            .api
            .create_run(&spec, &idempotency_key, &mut attempts)
            .await;
        let (run_id, refused) = match created {
            Ok(created) => (Some(created.run_id), None),
            Err(e) => (None, Some(e.problem.to_string())),
        };
        Submission {
            spec,
            idempotency_key,
            run_id,
            submitted_ms,
            replay_mismatch: false,
            refused,
            retried: attempts.retried,
        }
    }

    /// Polls every accepted run until all are final or `deadline` passes; returns the last
    /// state read of each submission (`None`: never accepted, or never readable).
    pub async fn wait(&self, runs: &[Submission], deadline: Instant) -> Vec<Option<RunState>> {
        let mut states: Vec<Option<RunState>> = vec![None; runs.len()];
        loop {
            let pending: Vec<(usize, RunId)> = runs
                .iter()
                .enumerate()
                .filter(|(i, _)| !states[*i].as_ref().is_some_and(|s| s.status.is_final()))
                .filter_map(|(i, s)| s.run_id.clone().map(|id| (i, id)))
                .collect();
            if pending.is_empty() || Instant::now() >= deadline {
                return states;
            }
            let this = self.clone();
            let read = map_concurrent(pending, self.concurrency, move |(i, id)| {
                let this = this.clone();
                async move { (i, this.run_state(&id).await) }
            })
            .await;
            for (i, state) in read {
                if let Some(state) = state {
                    states[i] = Some(state);
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// `GET /runs/{id}`; `None` when it cannot be read right now (e.g. the API restarts).
    pub async fn run_state(&self, run_id: &RunId) -> Option<RunState> {
        self.api.run(run_id).await.ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sidefx_core::{BusinessKey, FailMode};

    #[test]
    fn a_run_that_fails_every_attempt_must_dead_letter() {
        let spec = |fail, max| RunRequest {
            business_key: BusinessKey::parse("k").unwrap(),
            amount: 1.0,
            fail_before_effect_n: fail,
            fail_mode: FailMode::None,
            max_attempts: max,
        };
        assert_eq!(expected_end(&spec(2, 2)), End::DeadLettered);
        assert_eq!(expected_end(&spec(1, 2)), End::Completed);
    }
}
