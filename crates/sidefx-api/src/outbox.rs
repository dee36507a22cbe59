//! The intake of `POST /runs`: a transactional outbox between the store and the broker.
//!
//! A run is accepted when its row and its row in the run outbox commit, in one transaction
//! ([`Store::accept_run`]); the client is answered then, and nothing that happens to the
//! broker afterwards can make that answer wrong. The run's first messages (`run.created`,
//! the first `run.command`, `command.enqueued`) are a pure function of the committed row, so
//! committing the row commits them. Two paths publish them, with the same idempotency keys:
//!
//! * at once, in a task of its own that the request starts ([`publish_now`]). The answer
//!   waits for it up to [`ANSWER_WAIT`], so with a healthy broker a client that gets 200
//!   finds the run's events topic and messages in place, as with the original; a broker that
//!   is down answers at once (connection refused), a hanging one delays the 200 by that much;
//! * the relay ([`run_relay`]), for every row still there [`RELAY_AFTER`] later: the broker
//!   was down or full, the process crashed, the first try is still hanging. It retries with
//!   a growing backoff until the broker takes the messages. A row whose run a worker has
//!   started already (a crash after publishing) is only cleared.
//!
//! A successful publish writes nothing at once: the run goes on the [`Published`] list,
//! which the relay clears from the store in one transaction per pass, so accepting a run
//! costs one commit (and a share of the next), not two. A crash before the clear only makes
//! a restarted relay publish those runs again, which the broker drops, or clear them.
//!
//! Both may publish one run (a first try slower than [`RELAY_AFTER`]); the broker drops the
//! second copy by its key. A 5xx means nothing was stored: the outbox holds
//! `API_MAX_PENDING_RUNS` runs already (503 `overloaded`, `Retry-After`), or the store failed.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use sidefx_core::metrics::{RUN_PUBLISH_FAILURES, RUNS_ACCEPTED, RUNS_REPLAYED};
use sidefx_core::{
    CreateRun, NewRun, PendingRun, PublishError, RunId, RunRequest, RunRow, RunStatus, now_ms,
};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::error::ApiError;
use crate::run_messages::RunMessages;
use crate::state::AppState;

/// How long the answer to `POST /runs` waits for the request's own publish.
pub const ANSWER_WAIT: Duration = Duration::from_secs(1);

/// The longest pause between two tries of the request's own publish while the broker
/// pushes back.
const BACKPRESSURE_RETRY_MAX: Duration = Duration::from_millis(100);

/// How long the request's own publish has before the relay publishes the run too.
pub const RELAY_AFTER: Duration = Duration::from_secs(5);

/// How often the relay looks for due rows when it has nothing to do.
const RELAY_PERIOD: Duration = Duration::from_millis(500);

/// Rows the relay takes per pass, and publishes at once.
const RELAY_BATCH: u32 = 64;
const RELAY_CONCURRENCY: usize = 16;

/// The first and the longest wait after a failed publish.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Runs whose messages the broker took, waiting for the relay to clear their outbox rows.
/// Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Published {
    runs: Arc<Mutex<Vec<RunId>>>,
}

impl Published {
    fn push(&self, run_id: RunId) {
        self.lock().push(run_id);
    }

    fn take(&self) -> Vec<RunId> {
        std::mem::take(&mut *self.lock())
    }

    fn put_back(&self, mut run_ids: Vec<RunId>) {
        self.lock().append(&mut run_ids);
    }

    fn contains(&self, run_id: &RunId) -> bool {
        self.lock().contains(run_id)
    }

    /// Never held across an `.await`; a poisoned lock still holds a valid list.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RunId>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A run `POST /runs` answered for.
#[derive(Debug)]
pub struct Accepted {
    /// The run, as stored.
    pub run: RunRow,
    /// True when an earlier request with the same `Idempotency-Key` created it.
    pub replayed: bool,
}

/// Stores `request` as a run with its outbox row and starts publishing it, or finds the run
/// of an earlier request with the same `Idempotency-Key`. `admitted` (the request's
/// admission permit) is held by the publish, so the API bounds publishes in flight too.
pub async fn accept(
    state: &AppState,
    request: &RunRequest,
    idempotency_key: Option<String>,
    admitted: OwnedSemaphorePermit,
) -> Result<Accepted, ApiError> {
    let new_run = new_run(request, idempotency_key)?;
    let relay_due_ms = due_after(RELAY_AFTER);
    // The history starts in the transaction that accepts the run.
    let first = request.clone();
    let first_events =
        move |row: &RunRow| RunMessages::new(&row.run_id, &first, row.created_ms).first_events();
    let (run, replayed) = match state
        .store
        .accept_run_recording(new_run, state.max_pending_runs, relay_due_ms, first_events)
        .await?
    {
        CreateRun::Created(run) => (run, false),
        CreateRun::Replayed(run) => (run, true),
        CreateRun::KeyConflict(_) => return Err(ApiError::IdempotencyKeyReused),
        CreateRun::OutboxFull { limit } => return Err(ApiError::OutboxFull { limit }),
    };
    metrics::counter!(if replayed {
        RUNS_REPLAYED
    } else {
        RUNS_ACCEPTED
    })
    .increment(1);
    // A replay owes nothing new: the first request's row is published (or being published)
    // already. Only a run an earlier version answered 503 `rejected` is queued now.
    let owed = !replayed
        || (run.status == RunStatus::Rejected
            && state
                .store
                .requeue_rejected_run(&run.run_id, relay_due_ms)
                .await?);
    if owed {
        let publish = publish_now(state, &run, request.clone(), admitted);
        // Whatever it ends with, the run is stored and owed: the answer is 200 either way.
        let _ = tokio::time::timeout(ANSWER_WAIT, publish).await;
    }
    Ok(Accepted { run, replayed })
}

/// The row to insert; the fingerprint is the canonical JSON of the validated request.
fn new_run(request: &RunRequest, idempotency_key: Option<String>) -> Result<NewRun, ApiError> {
    let request_json = request
        .canonical_json()
        .map_err(|err| ApiError::Internal(format!("encode request: {err}")))?;
    Ok(NewRun {
        run_id: RunId::generate(),
        business_key: request.business_key.clone(),
        request_fingerprint: request_json.clone(),
        request_json,
        idempotency_key,
    })
}

/// The request's own publish of a just-committed run, in a task of its own, so neither a
/// hanging broker nor a client that hangs up can stop it half way. A failure leaves the row
/// for the relay.
fn publish_now(
    state: &AppState,
    run: &RunRow,
    request: RunRequest,
    admitted: OwnedSemaphorePermit,
) -> tokio::task::JoinHandle<()> {
    let (state, run_id, created_ms) = (state.clone(), run.run_id.clone(), run.created_ms);
    tokio::spawn(async move {
        let _admitted = admitted;
        let messages = RunMessages::new(&run_id, &request, created_ms);
        let until = Instant::now() + ANSWER_WAIT;
        let result = loop {
            let result = messages.publish(&state.publisher).await;
            // A full partition frees as the workers ack. Trying again within the answer's
            // wait keeps a closed-loop client at the pace the broker takes, as a 503 did
            // before the outbox; past it, the relay has the run.
            let wait = result.as_ref().err().and_then(backpressure);
            match wait.map(|(_, retry_after)| retry_after.min(BACKPRESSURE_RETRY_MAX)) {
                Some(wait) if Instant::now() + wait < until => tokio::time::sleep(wait).await,
                _ => break result,
            }
        };
        settle(&state, &run_id, 0, result).await;
    })
}

/// The broker's reason and `Retry-After` when it refused the publish for backpressure (a
/// full partition); `None` for any other failure.
fn backpressure(err: &PublishError) -> Option<(&str, Duration)> {
    match err.driftq_error()? {
        driftq_client::Error::Backpressure {
            reason,
            retry_after,
        } => Some((reason.as_str(), *retry_after)),
        _ => None,
    }
}

/// Publishes due outbox rows until `shutdown` completes. Rows left by a crash are due at
/// once, so a restarted API publishes what its predecessor owed.
pub async fn run_relay(state: AppState, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let handled = match relay_pass(&state).await {
            Ok(handled) => handled,
            Err(err) => {
                tracing::warn!(error = %err, "run outbox relay pass failed; retrying");
                0
            }
        };
        // A full batch means more may be due right now.
        if handled < RELAY_BATCH as usize {
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(RELAY_PERIOD) => {}
            }
        }
    }
    // What was published since the last pass, so a restart does not publish it again.
    if let Err(err) = clear_published(&state).await {
        tracing::warn!(error = %err, "clearing the published runs' outbox rows failed");
    }
    tracing::info!("run outbox relay stopped");
}

/// Deletes the outbox rows of the runs published since the last call, in one transaction.
async fn clear_published(state: &AppState) -> Result<(), sidefx_core::StoreError> {
    let published = state.published.take();
    if let Err(err) = state.store.runs_published(published.clone()).await {
        state.published.put_back(published);
        return Err(err);
    }
    Ok(())
}

/// One pass: clears the rows of published runs, then publishes up to [`RELAY_BATCH`] due
/// rows, [`RELAY_CONCURRENCY`] at a time.
async fn relay_pass(state: &AppState) -> Result<usize, sidefx_core::StoreError> {
    clear_published(state).await?;
    let due = state.store.due_pending_runs(now_ms(), RELAY_BATCH).await?;
    let handled = due.len();
    futures::stream::iter(due)
        .for_each_concurrent(RELAY_CONCURRENCY, |pending| relay_one(state, pending))
        .await;
    Ok(handled)
}

async fn relay_one(state: &AppState, pending: PendingRun) {
    let run_id = pending.run.run_id.clone();
    // Published since the pass read the list, or started by a worker already (a crash after
    // the publish and before the clear): nothing is owed.
    if state.published.contains(&run_id) {
        return;
    }
    if pending.run.status != RunStatus::Queued {
        state.published.push(run_id);
        return;
    }
    let request: RunRequest = match serde_json::from_str(&pending.run.request_json) {
        Ok(request) => request,
        Err(err) => {
            // Written by `accept` from a validated request, so only a hand-edited database
            // gets here; keep the row (and say so) rather than lose the run silently.
            tracing::error!(%run_id, error = %err, "stored run request does not decode; \
                its messages cannot be published");
            let next = due_after(BACKOFF_MAX);
            if let Err(err) = state
                .store
                .run_publish_failed(&run_id, next, &err.to_string())
                .await
            {
                tracing::warn!(%run_id, error = %err, "recording the failed publish failed");
            }
            return;
        }
    };
    let messages = RunMessages::new(&run_id, &request, pending.run.created_ms);
    let result = messages.publish(&state.publisher).await;
    if result.is_ok() && pending.attempts > 0 {
        tracing::info!(%run_id, attempts = pending.attempts, "run published by the outbox relay");
    }
    settle(state, &run_id, pending.attempts, result).await;
}

/// Records a publish's outcome: the row goes once the broker has every message; after a
/// failure it is due again after a backoff that doubles with each failure.
async fn settle(state: &AppState, run_id: &RunId, failures: u32, result: Result<(), PublishError>) {
    let recorded = match result {
        Ok(()) => {
            state.published.push(run_id.clone());
            Ok(())
        }
        Err(err) => {
            metrics::counter!(RUN_PUBLISH_FAILURES).increment(1);
            // A full partition frees as the workers ack: try again soon. A broker that is
            // down or failing gets the growing backoff.
            let wait = match backpressure(&err) {
                Some((reason, _)) => {
                    state.broker_pressure.record(reason);
                    BACKOFF_MIN
                }
                None => backoff(failures),
            };
            tracing::warn!(%run_id, failures = failures + 1, retry_in_ms = wait.as_millis(),
                error = %err, "publishing an accepted run failed; the outbox relay retries");
            state
                .store
                .run_publish_failed(run_id, due_after(wait), &err.to_string())
                .await
        }
    };
    if let Err(err) = recorded {
        // The row stays as it was: the relay publishes the run (again) when it is due.
        tracing::warn!(%run_id, error = %err, "recording a publish in the run outbox failed");
    }
}

/// The wait after the `failures + 1`-th failed publish: 250 ms, doubling, at most 10 s.
fn backoff(failures: u32) -> Duration {
    BACKOFF_MIN
        .saturating_mul(1 << failures.min(16))
        .min(BACKOFF_MAX)
}

fn due_after(wait: Duration) -> i64 {
    now_ms().saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_ceiling() {
        let waits: Vec<u128> = (0..8).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }
}
