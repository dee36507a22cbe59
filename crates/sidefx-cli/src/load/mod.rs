//! Load against the API, as a well-behaved client would send it: runs are submitted at a
//! bounded concurrency over keep-alive connections, each `POST /runs` carries an
//! `Idempotency-Key` and is retried with it on connection errors and 503/429 (a restarted API
//! or a full broker must not turn into a lost or a double run), every accepted request is sent
//! once more to check the replay, and then each run is polled until it finished. The latency
//! of a run is from its first POST to its final status change (`updated_ms` of the run).

mod pool;
mod stats;

use std::time::{Duration, Instant};

use anyhow::Result;
use serde::{Deserialize, Serialize};

pub use pool::map_concurrent;
pub use stats::{now_ms, percentile};

/// First retry delay of a POST; it doubles up to [`MAX_BACKOFF`] (or follows Retry-After).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Pause between two polling rounds over the unfinished runs.
const POLL: Duration = Duration::from_millis(200);

/// One run to submit (the body of `POST /runs`).
#[derive(Debug, Clone, Serialize)]
pub struct RunSpec {
    /// Unique per run, so one ticket per run is expected.
    pub business_key: String,
    /// Amount to charge.
    pub amount: f64,
    /// Attempts that fail on purpose before the effect.
    pub fail_before_effect_n: u32,
    /// Where the worker crashes on purpose (`none`, `crash_after_claim_before_effect`, …).
    pub fail_mode: &'static str,
    /// Attempts before the dead letter.
    pub max_attempts: u32,
}

impl RunSpec {
    /// How the run must end: dead-lettered when it asked to fail on every attempt.
    pub fn expected_end(&self) -> End {
        if self.fail_before_effect_n >= self.max_attempts {
            End::DeadLettered
        } else {
            End::Completed
        }
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
    pub spec: RunSpec,
    /// The `Idempotency-Key` of every attempt of this request.
    pub idempotency_key: String,
    /// The run id, once a POST succeeded.
    pub run_id: Option<String>,
    /// Wall clock (ms since the epoch) of the first POST attempt.
    pub submitted_ms: i64,
    /// POST attempts until the answer (1 = no retry needed).
    pub attempts: u32,
    /// The re-sent request answered with another run: the client's retry created a second run.
    pub replay_mismatch: bool,
    /// Why it was never accepted (the last error), if it was not.
    pub refused: Option<String>,
    /// Why each retried attempt failed ("HTTP 503", "connection refused", …), in order.
    pub retried: Vec<String>,
}

/// The part of `GET /runs/{id}` the evidence needs.
#[derive(Debug, Clone, Deserialize)]
pub struct RunState {
    /// `queued`, `running`, `retrying`, `completed` or `dead_lettered`.
    pub status: String,
    /// Last status change (ms since the epoch).
    pub updated_ms: i64,
    /// Times a worker republished the run's command because it stalled (absent from APIs
    /// older than the redrive sweeper).
    #[serde(default)]
    pub redrives: u32,
    /// The run's side-effect rows (exactly one for a completed run).
    pub effects: Vec<serde_json::Value>,
}

impl RunState {
    /// Completed or dead-lettered: nothing will change any more.
    pub fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "dead_lettered")
    }
}

/// A client of one API with its concurrency and retry budget.
#[derive(Debug, Clone)]
pub struct Load {
    client: reqwest::Client,
    api: String,
    concurrency: usize,
    retry_for: Duration,
}

impl Load {
    /// `concurrency` requests at a time; each POST is retried for up to `retry_for`.
    pub fn new(api: &str, concurrency: usize, retry_for: Duration) -> Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(concurrency)
            .build()?;
        Ok(Self {
            client,
            api: api.trim_end_matches('/').to_owned(),
            concurrency: concurrency.max(1),
            retry_for,
        })
    }

    /// Submits every run (each with a fresh Idempotency-Key), then re-sends it once.
    pub async fn submit(&self, specs: Vec<RunSpec>) -> Vec<Submission> {
        let this = self.clone();
        map_concurrent(specs, self.concurrency, move |spec| {
            let this = this.clone();
            async move { this.submit_one(spec).await }
        })
        .await
    }

    async fn submit_one(&self, spec: RunSpec) -> Submission {
        let mut submission = self.submit_once(spec, "torture").await;
        if let Some(run_id) = &submission.run_id {
            // The client re-sends its request (a lost response, a double click): the
            // Idempotency-Key must give back the same run, not a second charge.
            let mut again = submission.clone();
            if let Ok(replayed) = self.post_until_answered(&mut again).await {
                submission.replay_mismatch = &replayed != run_id;
            }
        }
        submission
    }

    /// Submits one run with the Idempotency-Key `<key_prefix>-<business_key>`, retrying like
    /// [`Load::submit`] but without the replay (a benchmark sends each request once).
    pub async fn submit_once(&self, spec: RunSpec, key_prefix: &str) -> Submission {
        let mut submission = Submission {
            submitted_ms: now_ms(),
            idempotency_key: format!("{key_prefix}-{}", spec.business_key),
            run_id: None,
            attempts: 0,
            replay_mismatch: false,
            refused: None,
            retried: Vec::new(),
            spec,
        };
        match self.post_until_answered(&mut submission).await {
            Ok(run_id) => submission.run_id = Some(run_id),
            Err(why) => submission.refused = Some(why),
        }
        submission
    }

    /// POSTs until a 200 (the run id), a final refusal, or the retry budget is spent.
    async fn post_until_answered(&self, s: &mut Submission) -> Result<String, String> {
        let deadline = Instant::now() + self.retry_for;
        let mut backoff = FIRST_BACKOFF;
        loop {
            s.attempts += 1;
            let wait = match self.post(s).await {
                Ok(run_id) => return Ok(run_id),
                Err(PostError::Final(why)) => return Err(why),
                Err(PostError::Retry { why, .. }) if Instant::now() + backoff > deadline => {
                    let secs = self.retry_for.as_secs();
                    return Err(format!("{why} (still failing after {secs}s)"));
                }
                Err(PostError::Retry { why, after }) => {
                    s.retried.push(why);
                    after.unwrap_or(backoff)
                }
            };
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn post(&self, s: &Submission) -> Result<String, PostError> {
        let response = self
            .client
            .post(format!("{}/runs", self.api))
            .header("Idempotency-Key", &s.idempotency_key)
            .json(&s.spec)
            .send()
            .await
            .map_err(|e| PostError::Retry {
                why: describe(&e),
                after: None,
            })?;
        let status = response.status();
        if status.is_success() {
            #[derive(Deserialize)]
            struct Created {
                run_id: String,
            }
            return match response.json::<Created>().await {
                Ok(created) => Ok(created.run_id),
                Err(e) => Err(PostError::Retry {
                    why: describe(&e),
                    after: None,
                }),
            };
        }
        let after = retry_after(&response);
        let why = format!("HTTP {}", status.as_u16());
        match status.as_u16() {
            429 | 503 => Err(PostError::Retry { why, after }),
            _ => Err(PostError::Final(format!(
                "{why}: {}",
                response.text().await.unwrap_or_default()
            ))),
        }
    }

    /// Polls every accepted run until all are final or `deadline` passes; returns the last
    /// state read of each submission (`None`: never accepted, or never readable).
    pub async fn wait(&self, runs: &[Submission], deadline: Instant) -> Vec<Option<RunState>> {
        let mut states: Vec<Option<RunState>> = vec![None; runs.len()];
        loop {
            let pending: Vec<(usize, String)> = runs
                .iter()
                .enumerate()
                .filter(|(i, _)| !states[*i].as_ref().is_some_and(RunState::is_final))
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
    pub async fn run_state(&self, run_id: &str) -> Option<RunState> {
        let url = format!("{}/runs/{run_id}", self.api);
        let response = self.client.get(url).send().await.ok()?;
        response.error_for_status().ok()?.json().await.ok()
    }
}

/// Why one POST did not give a run id.
enum PostError {
    /// Worth retrying with the same key (after `after`, when the server said).
    Retry {
        why: String,
        after: Option<Duration>,
    },
    /// The request itself is refused (4xx other than 429, or a 5xx other than 503).
    Final(String),
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let secs = response.headers().get("retry-after")?.to_str().ok()?;
    secs.trim().parse().ok().map(Duration::from_secs)
}

/// A transport error in a few words ("connection refused", "timed out", …).
pub fn describe(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "connection refused".to_owned()
    } else if e.is_timeout() {
        "timed out".to_owned()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(inner) = source {
            text = format!("{text}: {inner}");
            source = inner.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_fails_every_attempt_must_dead_letter() {
        let spec = |fail, max| RunSpec {
            business_key: "k".into(),
            amount: 1.0,
            fail_before_effect_n: fail,
            fail_mode: "none",
            max_attempts: max,
        };
        assert_eq!(spec(2, 2).expected_end(), End::DeadLettered);
        assert_eq!(spec(1, 2).expected_end(), End::Completed);
    }
}
