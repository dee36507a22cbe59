//! The command the worker consumes: one `run.command` per attempt of a step.

use serde::{Deserialize, Serialize};

use crate::ids::{BusinessKey, EffectId, RunId, StepId};

/// Everything on the commands topic, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type")]
pub enum Command {
    /// Run one attempt of a step: `{"type":"run.command", ...}`.
    #[serde(rename = "run.command")]
    Run(RunCommand),
}

/// One attempt of one step of a run. Retries are new commands with `attempt + 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunCommand {
    /// When this attempt was enqueued (ms since the epoch).
    pub ts: i64,
    /// The run this command belongs to.
    pub run_id: RunId,
    /// Where the worker emits events (`sidefx.events.<run_id>`).
    pub events_topic: String,
    /// The step to run.
    pub step_id: StepId,
    /// The caller's real-world key; part of the effect id.
    pub business_key: BusinessKey,
    /// The amount to charge.
    pub amount: f64,
    /// 0-based attempt number.
    #[serde(default)]
    pub attempt: u32,
    /// Attempts allowed before the run is dead-lettered.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Demo switch: attempts below this number fail before the side effect.
    #[serde(default)]
    pub fail_before_effect_n: u32,
    /// Demo switch: where (if anywhere) the worker crashes on purpose.
    #[serde(default)]
    pub fail_mode: FailMode,
    /// Which manual redrive of a dead-lettered run this command belongs to (absent until
    /// the first, so ordinary commands are the original's bytes). Carried to the round's
    /// dead letter, whose key it makes new.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive: Option<u32>,
}

/// The original worker's default when a command has no `max_attempts`.
fn default_max_attempts() -> u32 {
    5
}

impl RunCommand {
    /// The side effect this command performs: `<run_id>:<step_id>:<business_key>`.
    pub fn effect_id(&self) -> EffectId {
        EffectId::new(&self.run_id, &self.step_id, &self.business_key)
    }

    /// Broker idempotency key `cmd:<run>:<step>:<key>:a<attempt>`. The attempt is part of the
    /// key because a retry is a new message that must not be deduplicated away.
    pub fn idempotency_key(&self) -> String {
        let (run, step, key) = (&self.run_id, &self.step_id, &self.business_key);
        format!("cmd:{run}:{step}:{key}:a{}", self.attempt)
    }

    /// The retry of this command: same fields, `attempt + 1`, a fresh `ts`.
    pub fn next_attempt(&self, now_ms: i64) -> RunCommand {
        RunCommand {
            ts: now_ms,
            attempt: self.attempt.saturating_add(1),
            ..self.clone()
        }
    }

    /// True when no attempt remains after this one fails.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt.saturating_add(1) >= self.max_attempts
    }
}

/// Demo switch: where the worker kills itself on purpose to prove each crash point is safe.
///
/// On the wire these are snake_case strings; `none` is the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Never crash.
    #[default]
    None,
    /// Crash after the claim is stored, before the side effect.
    CrashAfterClaimBeforeEffect,
    /// Crash after the side effect, before the claim is marked done.
    CrashAfterEffectBeforeMarkDone,
    /// Crash after mark-done, before the command is acked.
    CrashAfterMarkDoneBeforeAck,
    /// Crash after the side effect, before the ack (the original's only chaos mode).
    CrashAfterEffectBeforeAck,
}

impl FailMode {
    /// The wire name, e.g. `crash_after_effect_before_ack`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailMode::None => "none",
            FailMode::CrashAfterClaimBeforeEffect => "crash_after_claim_before_effect",
            FailMode::CrashAfterEffectBeforeMarkDone => "crash_after_effect_before_mark_done",
            FailMode::CrashAfterMarkDoneBeforeAck => "crash_after_mark_done_before_ack",
            FailMode::CrashAfterEffectBeforeAck => "crash_after_effect_before_ack",
        }
    }
}

impl std::fmt::Display for FailMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
