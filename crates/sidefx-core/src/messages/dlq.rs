//! The dead-letter record written to `sidefx.dlq` when a run exhausts its attempts, or when
//! the worker refuses a command at intake.

use serde::{Deserialize, Serialize};

use crate::ids::{BusinessKey, RunId, StepId};
use crate::messages::{Command, RunCommand};

/// `{"type":"sidefx.dlq", ...}`: the failed command and why it failed, as the original wrote it.
///
/// Build it with [`DlqRecord::for_command`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DlqRecord {
    /// Always `"sidefx.dlq"`. A field rather than `#[serde(tag)]` on the struct because serde
    /// ignores a struct's tag when deserializing and utoipa leaves it out of the schema.
    #[serde(rename = "type")]
    pub kind: DlqKind,
    /// When the run was dead-lettered (ms since the epoch).
    pub ts: i64,
    /// The run.
    pub run_id: RunId,
    /// The step that failed.
    pub step_id: StepId,
    /// The caller's key.
    pub business_key: BusinessKey,
    /// The last attempt (0-based).
    pub attempt: u32,
    /// Attempts that were allowed.
    pub max_attempts: u32,
    /// The last error, as text.
    pub error: String,
    /// The command of the last attempt, verbatim (including its `"type":"run.command"`).
    pub command: Command,
    /// `true` when the worker refused the command at intake (it broke a rule, or names a
    /// run that does not exist) without running it; absent (`false`) for a run that
    /// exhausted its attempts, as the original wrote it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refused: bool,
}

impl DlqRecord {
    /// The record for a command whose last attempt failed with `error`.
    pub fn for_command(cmd: &RunCommand, error: impl Into<String>, now_ms: i64) -> Self {
        Self {
            kind: DlqKind::Dlq,
            ts: now_ms,
            run_id: cmd.run_id.clone(),
            step_id: cmd.step_id.clone(),
            business_key: cmd.business_key.clone(),
            attempt: cmd.attempt,
            max_attempts: cmd.max_attempts,
            error: error.into(),
            command: Command::Run(cmd.clone()),
            refused: false,
        }
    }

    /// The record for a command the worker refused to run, with the reason.
    pub fn refused(cmd: &RunCommand, reason: impl Into<String>, now_ms: i64) -> Self {
        Self {
            refused: true,
            ..Self::for_command(cmd, reason, now_ms)
        }
    }

    /// Broker idempotency key `dlq:<run>:<step>:<key>`: one dead letter per effect, however
    /// often the failing command is redelivered. A refusal is keyed apart
    /// (`…:refused:a<attempt>`): a forged command must not take the key of the run's own
    /// dead letter, which would then be dropped as a duplicate.
    pub fn idempotency_key(&self) -> String {
        let mut key = format!("dlq:{}:{}:{}", self.run_id, self.step_id, self.business_key);
        let Command::Run(command) = &self.command;
        if let Some(round) = command.redrive {
            key = format!("{key}:r{round}");
        }
        if self.refused {
            format!("{key}:refused:a{}", self.attempt)
        } else {
            key
        }
    }
}

/// The `type` of a [`DlqRecord`]; its only value is `"sidefx.dlq"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DlqKind {
    /// `"sidefx.dlq"`.
    #[default]
    #[serde(rename = "sidefx.dlq")]
    Dlq,
}
