//! Waiting for every run's done row, the way an outside client sees it: `GET /runs/{id}`
//! (the run with its side-effect rows), oldest run first, [`POLLERS`] requests at a time.
//!
//! Why this way: the done time is the done row's own `updated_ms`, written by the worker, so
//! it does not depend on when we look, and we can look lazily. Runs finish roughly in submit
//! order, so the oldest pending run is almost always the next to be done: in the steady state
//! that is about one small GET per run. Polling `/debug/side-effects` instead would serialize
//! up to 1000 rows (with their payloads) per poll, much more work for the API.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use sidefx_core::{EffectStatus, RunId};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::load::{Load, RunState, map_concurrent};

/// `GET /runs/{id}` requests in flight at once: small, so the poller costs the API little.
const POLLERS: usize = 4;
/// Pause when a round found nothing newly done (the oldest run is still being worked on).
const IDLE: Duration = Duration::from_millis(20);

/// What the poller saw.
#[derive(Debug, Default)]
pub struct Completion {
    /// Run index → `updated_ms` of its done side-effect row.
    pub done_ms: HashMap<usize, i64>,
    /// Runs that ended without a done row (dead-lettered).
    pub ended_without_effect: usize,
    /// `GET /runs/{id}` requests that failed (the run is polled again).
    pub poll_errors: u64,
    /// `GET /runs/{id}` requests made in total.
    pub polls: u64,
}

/// Polls every run id received on `accepted` until it has a done row, until the channel is
/// closed and nothing is pending, or until `deadline`.
pub async fn wait_done(
    load: Load,
    mut accepted: UnboundedReceiver<(usize, RunId)>,
    deadline: Instant,
) -> Completion {
    let mut seen = Completion::default();
    let mut pending: VecDeque<(usize, RunId)> = VecDeque::new();
    let mut open = true;
    while Instant::now() < deadline {
        while let Ok(run) = accepted.try_recv() {
            pending.push_back(run);
        }
        if pending.is_empty() {
            if !open {
                break;
            }
            // Nothing to poll: wait for the next accepted run (or the end of submission).
            match tokio::time::timeout_at(deadline.into(), accepted.recv()).await {
                Ok(Some(run)) => pending.push_back(run),
                Ok(None) => open = false,
                Err(_) => break,
            }
            continue;
        }
        if !poll_round(&load, &mut pending, &mut seen).await {
            tokio::time::sleep(IDLE).await;
        }
    }
    seen
}

/// Polls the oldest pending runs once; returns whether any of them turned out finished.
async fn poll_round(
    load: &Load,
    pending: &mut VecDeque<(usize, RunId)>,
    seen: &mut Completion,
) -> bool {
    let batch: Vec<(usize, RunId)> = pending.drain(..POLLERS.min(pending.len())).collect();
    let load = load.clone();
    let read = map_concurrent(batch, POLLERS, move |(index, id)| {
        let load = load.clone();
        async move {
            let state = load.run_state(&id).await;
            (index, id, state)
        }
    })
    .await;
    seen.polls += read.len() as u64;
    let mut progressed = false;
    let mut again = Vec::new();
    for (index, id, state) in read {
        match state
            .as_ref()
            .map(|s| (done_row_ms(s), s.status.is_final()))
        {
            Some((Some(done_ms), _)) => {
                seen.done_ms.insert(index, done_ms);
                progressed = true;
            }
            Some((None, true)) => {
                seen.ended_without_effect += 1;
                progressed = true;
            }
            Some((None, false)) => again.push((index, id)),
            None => {
                seen.poll_errors += 1;
                again.push((index, id));
            }
        }
    }
    // Unfinished runs go back to the front: they are still the oldest.
    for run in again.into_iter().rev() {
        pending.push_front(run);
    }
    progressed
}

/// `updated_ms` of the run's done side-effect row, if it has one.
fn done_row_ms(state: &RunState) -> Option<i64> {
    state
        .effects
        .iter()
        .find(|row| row.status == EffectStatus::Done)
        .map(|row| row.updated_ms)
}
