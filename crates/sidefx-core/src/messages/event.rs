//! Run events: what happened to a run, published to `sidefx.events.<run_id>` and streamed to
//! clients over SSE. Names, fields and idempotency keys are the original starter's.

use serde::{Deserialize, Serialize};

use crate::ids::{BusinessKey, EffectId, RunId, StepId};
use crate::receipt::Receipt;

/// Every event of a run, tagged by `type`. `ts` is ms since the epoch. Each variant's schema
/// title is its `type`, so the OpenAPI document names the variants instead of listing
/// `object | object | …`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type")]
pub enum Event {
    /// The API accepted the run.
    #[serde(rename = "run.created")]
    #[cfg_attr(feature = "openapi", schema(title = "run.created"))]
    RunCreated {
        ts: i64,
        run_id: RunId,
        business_key: BusinessKey,
        amount: f64,
    },
    /// The API put attempt `attempt` on the commands topic.
    #[serde(rename = "command.enqueued")]
    #[cfg_attr(feature = "openapi", schema(title = "command.enqueued"))]
    CommandEnqueued {
        ts: i64,
        run_id: RunId,
        attempt: u32,
    },
    /// A worker started an attempt.
    #[serde(rename = "step.started")]
    #[cfg_attr(feature = "openapi", schema(title = "step.started"))]
    StepStarted {
        ts: i64,
        run_id: RunId,
        step_id: StepId,
        attempt: u32,
    },
    /// An attempt failed before the side effect (safe to retry).
    #[serde(rename = "step.failed")]
    #[cfg_attr(feature = "openapi", schema(title = "step.failed"))]
    StepFailed {
        ts: i64,
        run_id: RunId,
        step_id: StepId,
        attempt: u32,
        reason: String,
    },
    /// The side effect was not performed again; `reason` says why.
    #[serde(rename = "side_effect.skipped")]
    #[cfg_attr(feature = "openapi", schema(title = "side_effect.skipped"))]
    SideEffectSkipped {
        ts: i64,
        run_id: RunId,
        step_id: StepId,
        business_key: BusinessKey,
        effect_id: EffectId,
        reason: SkipReason,
        /// The run that did (or holds) the effect, when it is another run of the same
        /// business key (added by this port).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by_run: Option<RunId>,
    },
    /// An in-progress claim was finished because the ticket proves the effect happened.
    #[serde(rename = "side_effect.healed")]
    #[cfg_attr(feature = "openapi", schema(title = "side_effect.healed"))]
    SideEffectHealed {
        ts: i64,
        run_id: RunId,
        effect_id: EffectId,
    },
    /// An expired claim of a crashed worker was taken over (added by this port).
    #[serde(rename = "side_effect.taken_over")]
    #[cfg_attr(feature = "openapi", schema(title = "side_effect.taken_over"))]
    SideEffectTakenOver {
        ts: i64,
        run_id: RunId,
        step_id: StepId,
        effect_id: EffectId,
        previous_owner: String,
    },
    /// The claim is held; the side effect is being performed.
    #[serde(rename = "side_effect.executing")]
    #[cfg_attr(feature = "openapi", schema(title = "side_effect.executing"))]
    SideEffectExecuting {
        ts: i64,
        run_id: RunId,
        step_id: StepId,
        business_key: BusinessKey,
        effect_id: EffectId,
        amount: f64,
        /// Which claim of the effect executes (2 and up after takeovers; absent for the
        /// first, as in the original). Part of the broker key, so every execution is seen.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        claim: Option<u32>,
    },
    /// The side effect happened and was recorded.
    #[serde(rename = "side_effect.done")]
    #[cfg_attr(feature = "openapi", schema(title = "side_effect.done"))]
    SideEffectDone {
        ts: i64,
        run_id: RunId,
        step_id: StepId,
        business_key: BusinessKey,
        effect_id: EffectId,
        artifact_path: String,
        /// What proves it (added by this port; absent in the original's events).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        receipt: Option<Receipt>,
    },
    /// Demo: the worker is about to crash on purpose. `step_id` was added by this port (the
    /// idempotency key needs it); JSON without it means the original's only step.
    #[serde(rename = "chaos.crash_now")]
    #[cfg_attr(feature = "openapi", schema(title = "chaos.crash_now"))]
    ChaosCrashNow {
        ts: i64,
        run_id: RunId,
        #[serde(default = "StepId::charge_card")]
        step_id: StepId,
        note: String,
    },
    /// An attempt finished.
    #[serde(rename = "step.completed")]
    #[cfg_attr(feature = "openapi", schema(title = "step.completed"))]
    StepCompleted {
        ts: i64,
        run_id: RunId,
        step_id: StepId,
        attempt: u32,
    },
    /// The run finished.
    #[serde(rename = "run.completed")]
    #[cfg_attr(feature = "openapi", schema(title = "run.completed"))]
    RunCompleted { ts: i64, run_id: RunId },
    /// An attempt failed; the worker decides between retry and dead letter.
    #[serde(rename = "retry.considered")]
    #[cfg_attr(feature = "openapi", schema(title = "retry.considered"))]
    RetryConsidered {
        ts: i64,
        run_id: RunId,
        step_id: StepId,
        attempt: u32,
        next_attempt: u32,
        max_attempts: u32,
        error: String,
        backoff_s: f64,
    },
    /// Attempt `attempt` (the next one) was scheduled.
    #[serde(rename = "retry.scheduled")]
    #[cfg_attr(feature = "openapi", schema(title = "retry.scheduled"))]
    RetryScheduled {
        ts: i64,
        run_id: RunId,
        step_id: StepId,
        attempt: u32,
    },
    /// The run exhausted its attempts and went to the dead-letter topic.
    #[serde(rename = "run.dlq")]
    #[cfg_attr(feature = "openapi", schema(title = "run.dlq"))]
    RunDlq {
        ts: i64,
        run_id: RunId,
        step_id: StepId,
        error: String,
        /// Which manual redrive of the run this dead letter ends (absent before the first,
        /// as in the original). Part of the key, so each round's dead letter is kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        redrive: Option<u32>,
    },
    /// An operator redrove the dead-lettered run (`POST /runs/{id}/redrive`; added by this
    /// port, recorded in the run's history only).
    #[serde(rename = "run.redriven")]
    #[cfg_attr(feature = "openapi", schema(title = "run.redriven"))]
    RunRedriven {
        ts: i64,
        run_id: RunId,
        /// Who asked (the request's `by`, else the caller's address).
        by: String,
        /// Why, as given.
        reason: Option<String>,
        /// How many manual redrives the run has had, this one included.
        redrive: u32,
        /// The attempt the redriven command starts at (attempts go on counting).
        attempt: u32,
    },
    /// An operator discarded the dead-lettered run: nothing more happens to it (added by
    /// this port, recorded in the run's history only).
    #[serde(rename = "run.discarded")]
    #[cfg_attr(feature = "openapi", schema(title = "run.discarded"))]
    RunDiscarded {
        ts: i64,
        run_id: RunId,
        /// Who asked.
        by: String,
        /// Why, as given.
        reason: String,
    },
}

/// Why `side_effect.skipped` skipped the effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The effect is recorded as done.
    AlreadyDone,
    /// Another owner holds a live claim on it.
    AlreadyInProgress,
}

impl Event {
    /// The run the event belongs to (it goes to that run's event topic).
    pub fn run_id(&self) -> &RunId {
        match self {
            Event::RunCreated { run_id, .. }
            | Event::CommandEnqueued { run_id, .. }
            | Event::StepStarted { run_id, .. }
            | Event::StepFailed { run_id, .. }
            | Event::SideEffectSkipped { run_id, .. }
            | Event::SideEffectHealed { run_id, .. }
            | Event::SideEffectTakenOver { run_id, .. }
            | Event::SideEffectExecuting { run_id, .. }
            | Event::SideEffectDone { run_id, .. }
            | Event::ChaosCrashNow { run_id, .. }
            | Event::StepCompleted { run_id, .. }
            | Event::RunCompleted { run_id, .. }
            | Event::RetryConsidered { run_id, .. }
            | Event::RetryScheduled { run_id, .. }
            | Event::RunDlq { run_id, .. }
            | Event::RunRedriven { run_id, .. }
            | Event::RunDiscarded { run_id, .. } => run_id,
        }
    }

    /// When it happened (ms since the epoch).
    pub fn ts(&self) -> i64 {
        match self {
            Event::RunCreated { ts, .. }
            | Event::CommandEnqueued { ts, .. }
            | Event::StepStarted { ts, .. }
            | Event::StepFailed { ts, .. }
            | Event::SideEffectSkipped { ts, .. }
            | Event::SideEffectHealed { ts, .. }
            | Event::SideEffectTakenOver { ts, .. }
            | Event::SideEffectExecuting { ts, .. }
            | Event::SideEffectDone { ts, .. }
            | Event::ChaosCrashNow { ts, .. }
            | Event::StepCompleted { ts, .. }
            | Event::RunCompleted { ts, .. }
            | Event::RetryConsidered { ts, .. }
            | Event::RetryScheduled { ts, .. }
            | Event::RunDlq { ts, .. }
            | Event::RunRedriven { ts, .. }
            | Event::RunDiscarded { ts, .. } => *ts,
        }
    }

    /// The `type` tag on the wire, e.g. `side_effect.done` (also the SSE event name).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::RunCreated { .. } => "run.created",
            Event::CommandEnqueued { .. } => "command.enqueued",
            Event::StepStarted { .. } => "step.started",
            Event::StepFailed { .. } => "step.failed",
            Event::SideEffectSkipped { .. } => "side_effect.skipped",
            Event::SideEffectHealed { .. } => "side_effect.healed",
            Event::SideEffectTakenOver { .. } => "side_effect.taken_over",
            Event::SideEffectExecuting { .. } => "side_effect.executing",
            Event::SideEffectDone { .. } => "side_effect.done",
            Event::ChaosCrashNow { .. } => "chaos.crash_now",
            Event::StepCompleted { .. } => "step.completed",
            Event::RunCompleted { .. } => "run.completed",
            Event::RetryConsidered { .. } => "retry.considered",
            Event::RetryScheduled { .. } => "retry.scheduled",
            Event::RunDlq { .. } => "run.dlq",
            Event::RunRedriven { .. } => "run.redriven",
            Event::RunDiscarded { .. } => "run.discarded",
        }
    }

    /// True for the events after which nothing more happens to the run (unless an operator
    /// redrives a dead letter).
    pub fn is_terminal(&self) -> bool {
        Self::is_terminal_kind(self.kind())
    }

    /// [`Event::is_terminal`] by the event's `type`: `run.completed`, `run.dlq`,
    /// `run.discarded`.
    pub fn is_terminal_kind(kind: &str) -> bool {
        matches!(kind, "run.completed" | "run.dlq" | "run.discarded")
    }

    /// Broker idempotency key, exactly the original's (`evt:<run>:...`): a redelivered
    /// command re-emits its events and the broker drops the duplicates.
    pub fn idempotency_key(&self) -> String {
        format!("evt:{}:{}", self.run_id(), self.key_suffix())
    }

    /// The part of the idempotency key after `evt:<run>:`.
    fn key_suffix(&self) -> String {
        match self {
            Event::RunCreated { .. } => "created".to_owned(),
            Event::CommandEnqueued { attempt, .. } => format!("enq:a{attempt}"),
            Event::StepStarted {
                step_id, attempt, ..
            } => format!("{step_id}:started:a{attempt}"),
            Event::StepFailed {
                step_id, attempt, ..
            } => format!("{step_id}:failed_before:a{attempt}"),
            Event::SideEffectSkipped {
                step_id,
                reason: SkipReason::AlreadyDone,
                ..
            } => {
                format!("{step_id}:effect:skipped")
            }
            Event::SideEffectSkipped {
                step_id,
                reason: SkipReason::AlreadyInProgress,
                ..
            } => {
                format!("{step_id}:effect:skipped_in_progress")
            }
            Event::SideEffectHealed { effect_id, .. } => {
                format!("{}:effect:healed", effect_id.step_id())
            }
            // The previous owner is part of the key: a second takeover (of the new owner's
            // expired claim) is a different event and must not be deduplicated away.
            Event::SideEffectTakenOver {
                step_id,
                previous_owner,
                ..
            } => {
                format!("{step_id}:effect:taken_over:{previous_owner}")
            }
            Event::SideEffectExecuting { step_id, claim, .. } => match claim {
                None | Some(1) => format!("{step_id}:effect:exec"),
                Some(n) => format!("{step_id}:effect:exec:c{n}"),
            },
            Event::SideEffectDone { step_id, .. } => format!("{step_id}:effect:done"),
            Event::ChaosCrashNow { step_id, .. } => format!("{step_id}:chaos:crash"),
            Event::StepCompleted {
                step_id, attempt, ..
            } => format!("{step_id}:completed:a{attempt}"),
            Event::RunCompleted { .. } => "completed".to_owned(),
            Event::RetryConsidered {
                step_id, attempt, ..
            } => {
                format!("{step_id}:retry:considered:a{attempt}")
            }
            Event::RetryScheduled {
                step_id, attempt, ..
            } => {
                format!("{step_id}:retry:scheduled:a{attempt}")
            }
            Event::RunDlq {
                step_id, redrive, ..
            } => match redrive {
                None => format!("{step_id}:dlq"),
                Some(n) => format!("{step_id}:dlq:r{n}"),
            },
            Event::RunRedriven { redrive, .. } => format!("redriven:r{redrive}"),
            Event::RunDiscarded { .. } => "discarded".to_owned(),
        }
    }
}
