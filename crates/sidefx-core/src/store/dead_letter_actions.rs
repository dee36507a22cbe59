//! What an operator can do with a dead-lettered run: redrive it (`POST /runs/{id}/redrive`)
//! or discard it (`POST /runs/{id}/discard`). Each is one transaction that checks the run,
//! changes it and records the action in the run's history (`run.redriven`, `run.discarded`:
//! who, when, why), so the history always explains the status.
//!
//! A redrive gives the run a new budget of its request's `max_attempts` attempts, numbered on
//! from the last one (attempt numbers are part of every message key, so the new round's
//! messages are new to the broker and to the history), and marks its commands with the
//! round (`RunCommand::redrive`), which makes the round's dead letter new too. It is refused
//! when the run's effect is already done (by this run or another run of the business key):
//! the charge exists, there is nothing to retry. The caller publishes the command of
//! [`RunRow::current_command`] after the commit; if that publish is lost, the worker's
//! stalled-run sweeper publishes it (the run is `queued` with nothing waiting for it).

use rusqlite::{Connection, OptionalExtension, params};

use super::run_history::insert_events;
use super::runs::{RUN_BY_ID, RunRow, RunStatus, select_run};
use super::{Store, StoreError};
use crate::ids::{RunId, StepId};
use crate::messages::{Event, RunCommand, RunRequest, now_ms};

/// The redrive itself, fenced on the status the checks saw. The stall counter starts again,
/// so the new round gets the redrive sweeper's full patience.
pub(super) const REDRIVE_RUN: &str = "
UPDATE runs SET status = 'queued', dlq_redrives = dlq_redrives + 1, attempt_budget = ?2,
                redrives = 0, updated_ms = ?3
 WHERE run_id = ?1 AND status = 'dead_lettered'";

pub(super) const DISCARD_RUN: &str = "
UPDATE runs SET status = 'discarded', updated_ms = ?2
 WHERE run_id = ?1 AND status = 'dead_lettered'";

/// The run that holds the done effect of an identity, if it is done.
pub(super) const DONE_EFFECT_BY_IDENTITY: &str = "
SELECT run_id FROM side_effects WHERE effect_key = ?1 AND status = 'done'";

/// A redrive to do: the run, who asks and why, and the cap on redrives per run.
#[derive(Debug, Clone)]
pub struct Redrive {
    /// The dead-lettered run.
    pub run_id: RunId,
    /// Who asks (recorded in the history).
    pub by: String,
    /// Why, if said.
    pub reason: Option<String>,
    /// Redrives a run may have; one more is refused.
    pub max_redrives: u32,
}

/// A discard to do.
#[derive(Debug, Clone)]
pub struct Discard {
    /// The dead-lettered run.
    pub run_id: RunId,
    /// Who asks.
    pub by: String,
    /// Why (required: a discarded run is a promise not kept, the reason is its record).
    pub reason: String,
}

/// Why an action was refused; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedriveRefused {
    /// No run has this id.
    #[error("no run {0}")]
    NotFound(RunId),
    /// Only dead letters can be redriven or discarded.
    #[error("run {run_id} is {status}, not dead_lettered")]
    NotDeadLettered {
        /// The run.
        run_id: RunId,
        /// Its status.
        status: RunStatus,
    },
    /// Its effect is done: the side effect happened, redriving would change nothing.
    #[error(
        "the side effect of run {run_id} is already done (by run {done_by}); nothing to redrive"
    )]
    EffectDone {
        /// The run asked about.
        run_id: RunId,
        /// The run whose effect row is done (this one, or another run of the business key).
        done_by: RunId,
    },
    /// The run was redriven as often as allowed.
    #[error("run {run_id} was redriven {redrives} times, the most allowed (API_MAX_DLQ_REDRIVES)")]
    CapReached {
        /// The run.
        run_id: RunId,
        /// Its redrives so far.
        redrives: u32,
    },
    /// The stored request does not decode (a corrupt row): its command cannot be rebuilt.
    #[error("run {run_id} has an unreadable request: {detail}")]
    UnreadableRequest {
        /// The run.
        run_id: RunId,
        /// The decode error.
        detail: String,
    },
}

impl RunRow {
    /// The request the run was created with.
    pub fn request(&self) -> serde_json::Result<RunRequest> {
        serde_json::from_str(&self.request_json)
    }

    /// The command the run is at, stamped `ts`: its current attempt (the one running, or the
    /// next one once an attempt failed or a redrive queued it), its attempt budget and its
    /// redrive round. What the redrive sweeper and a dead-letter redrive publish.
    pub fn current_command(&self, ts: i64) -> serde_json::Result<RunCommand> {
        let request = self.request()?;
        let attempt = match self.status {
            RunStatus::Running => self.attempts.saturating_sub(1),
            _ => self.attempts,
        };
        let mut command = request.command(&self.run_id, attempt, ts);
        if let Some(budget) = self.attempt_budget {
            command.max_attempts = budget;
        }
        command.redrive = (self.dlq_redrives > 0).then_some(self.dlq_redrives);
        Ok(command)
    }
}

impl Store {
    /// Redrives a dead-lettered run (see the module docs). Returns the run as it is now, or
    /// why not, changing nothing.
    pub async fn redrive_dead_letter(
        &self,
        r: Redrive,
    ) -> Result<Result<RunRow, RedriveRefused>, StoreError> {
        self.write(move |conn| redrive_blocking(conn, r)).await
    }

    /// Discards a dead-lettered run: `discarded`, for good. Returns the run as it is now, or
    /// why not, changing nothing.
    pub async fn discard_dead_letter(
        &self,
        d: Discard,
    ) -> Result<Result<RunRow, RedriveRefused>, StoreError> {
        self.write(move |conn| {
            let run = match dead_letter(conn, &d.run_id)? {
                Ok(run) => run,
                Err(refused) => return Ok(Err(refused)),
            };
            let now = now_ms();
            conn.prepare_cached(DISCARD_RUN)?
                .execute(params![run.run_id, now])?;
            let event = Event::RunDiscarded {
                ts: now,
                run_id: run.run_id.clone(),
                by: d.by,
                reason: d.reason,
            };
            insert_events(conn, &[event])?;
            reread(conn, &run.run_id).map(Ok)
        })
        .await
    }
}

fn redrive_blocking(
    conn: &Connection,
    r: Redrive,
) -> Result<Result<RunRow, RedriveRefused>, StoreError> {
    let run = match dead_letter(conn, &r.run_id)? {
        Ok(run) => run,
        Err(refused) => return Ok(Err(refused)),
    };
    if run.dlq_redrives >= r.max_redrives {
        return Ok(Err(RedriveRefused::CapReached {
            run_id: run.run_id,
            redrives: run.dlq_redrives,
        }));
    }
    let identity = format!("{}:{}", StepId::charge_card(), run.business_key);
    let done_by: Option<RunId> = conn
        .prepare_cached(DONE_EFFECT_BY_IDENTITY)?
        .query_row([identity], |row| row.get(0))
        .optional()?;
    if let Some(done_by) = done_by {
        return Ok(Err(RedriveRefused::EffectDone {
            run_id: run.run_id,
            done_by,
        }));
    }
    let request = match run.request() {
        Ok(request) => request,
        Err(err) => {
            return Ok(Err(RedriveRefused::UnreadableRequest {
                run_id: run.run_id,
                detail: err.to_string(),
            }));
        }
    };
    let budget = run.attempts.saturating_add(request.max_attempts);
    let now = now_ms();
    conn.prepare_cached(REDRIVE_RUN)?
        .execute(params![run.run_id, budget, now])?;
    let event = Event::RunRedriven {
        ts: now,
        run_id: run.run_id.clone(),
        by: r.by,
        reason: r.reason,
        redrive: run.dlq_redrives.saturating_add(1),
        attempt: run.attempts,
    };
    insert_events(conn, &[event])?;
    reread(conn, &run.run_id).map(Ok)
}

/// The run, if it is a dead letter.
fn dead_letter(
    conn: &Connection,
    run_id: &RunId,
) -> Result<Result<RunRow, RedriveRefused>, StoreError> {
    Ok(match select_run(conn, RUN_BY_ID, run_id)? {
        None => Err(RedriveRefused::NotFound(run_id.clone())),
        Some(run) if run.status != RunStatus::DeadLettered => {
            Err(RedriveRefused::NotDeadLettered {
                run_id: run.run_id,
                status: run.status,
            })
        }
        Some(run) => Ok(run),
    })
}

fn reread(conn: &Connection, run_id: &RunId) -> Result<RunRow, StoreError> {
    select_run(conn, RUN_BY_ID, run_id)?
        .ok_or_else(|| StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))
}
