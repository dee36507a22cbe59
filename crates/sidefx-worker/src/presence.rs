//! The worker's presence: its row in the store's `workers` table, written at start, on every
//! heartbeat (`WORKER_HEARTBEAT_MS`) with the number of steps in hand, and once more when it
//! stops gracefully. `GET /debug/workers` reads the rows; a process that died keeps its last
//! beat, which is how a reader tells it from one that stopped.
//!
//! The beat is one small write through the store's group-commit writer, in its own task, so
//! it never waits on a step and a step never waits on it. A beat that fails is logged and the
//! next one tries again: being invisible for a few seconds must never stop the real work.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sidefx_core::{Store, WorkerBeat, now_ms};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::{error, info, warn};

/// How many steps the consume loop has in hand: the loop sets it, the heartbeat reads it.
/// Cheap to clone (one shared counter).
#[derive(Debug, Clone, Default)]
pub struct StepsInHand(Arc<AtomicU32>);

impl StepsInHand {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `n` steps are in hand now.
    pub fn set(&self, n: usize) {
        self.0
            .store(u32::try_from(n).unwrap_or(u32::MAX), Ordering::Relaxed);
    }

    /// The steps in hand at the last [`StepsInHand::set`].
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The running heartbeat task; [`Presence::stop`] ends it and marks the row stopped.
#[derive(Debug)]
pub struct Presence {
    task: JoinHandle<()>,
    finished: watch::Sender<bool>,
}

/// Starts beating for the process `identity` describes (its `seen_ms` and `steps_in_hand`
/// are filled in at each beat), every `every`; the first beat is at once.
pub fn start(
    store: Store,
    identity: WorkerBeat,
    every: Duration,
    in_hand: StepsInHand,
) -> Presence {
    let (finished, finished_rx) = watch::channel(false);
    let task = tokio::spawn(run(store, identity, every, in_hand, finished_rx));
    Presence { task, finished }
}

impl Presence {
    /// Stops beating and marks the row stopped. Call it once the steps in hand are finished,
    /// so the row says the worker was alive for as long as it worked.
    pub async fn stop(self) {
        // The task may have ended already (it never does on its own); nothing to tell then.
        let _ = self.finished.send(true);
        if let Err(err) = self.task.await {
            error!(error = %err, "heartbeat task failed");
        }
    }
}

async fn run(
    store: Store,
    identity: WorkerBeat,
    every: Duration,
    in_hand: StepsInHand,
    mut finished: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(every);
    // A beat held up (a slow commit) is followed by one interval of quiet, not a burst.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut log = BeatLog::default();
    loop {
        tokio::select! {
            biased;
            _ = finished.wait_for(|done| *done) => break,
            _ = ticks.tick() => {}
        }
        let beat = WorkerBeat {
            seen_ms: now_ms(),
            steps_in_hand: in_hand.get(),
            ..identity.clone()
        };
        log.record(&store, beat).await;
    }
    match store.worker_stopped(&identity.owner, now_ms()).await {
        Ok(true) => info!(owner = %identity.owner, "worker row marked stopped"),
        // No beat ever reached the store: there is no row to mark.
        Ok(false) => warn!(owner = %identity.owner, "no worker row to mark stopped"),
        Err(err) => warn!(owner = %identity.owner, error = %err,
            "could not mark the worker row stopped; it will read as not alive once its beats are old"),
    }
}

/// What the beats so far were like, so that the log says what changed, not every beat.
#[derive(Debug, Default)]
struct BeatLog {
    registered: bool,
    failed_in_a_row: u32,
}

impl BeatLog {
    /// Records one beat and logs its outcome.
    async fn record(&mut self, store: &Store, beat: WorkerBeat) {
        let owner = beat.owner.clone();
        match store.record_worker(beat).await {
            Ok(forgotten) => {
                if !self.registered {
                    info!(%owner, "worker registered in the store's worker table");
                } else if self.failed_in_a_row > 0 {
                    info!(%owner, failed_beats = self.failed_in_a_row, "heartbeat recorded again");
                }
                if forgotten > 0 {
                    info!(forgotten, "deleted the rows of workers not seen for a day");
                }
                self.registered = true;
                self.failed_in_a_row = 0;
            }
            Err(err) => {
                self.failed_in_a_row = self.failed_in_a_row.saturating_add(1);
                warn!(%owner, failed_beats = self.failed_in_a_row, error = %err,
                    "heartbeat not recorded; trying again at the next beat");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_says_what_the_loop_set_last() {
        let in_hand = StepsInHand::new();
        let seen_by_heartbeat = in_hand.clone();
        assert_eq!(seen_by_heartbeat.get(), 0);
        in_hand.set(7);
        assert_eq!(seen_by_heartbeat.get(), 7);
        in_hand.set(usize::MAX);
        assert_eq!(seen_by_heartbeat.get(), u32::MAX, "saturates");
    }
}
