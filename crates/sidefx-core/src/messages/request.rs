//! The validated request of a run, as the API stores it in `runs.request_json`. It lives here,
//! not in the API, because the worker reads it too: a run whose command the broker lost is
//! redriven from this record (see the worker's `redrive` module).

use serde::{Deserialize, Serialize};

use super::command::{FailMode, RunCommand};
use crate::ids::{BusinessKey, RunId, StepId};
use crate::topics::events_topic;

/// A validated run request with every default applied. Its JSON is stored with the run and
/// is the fingerprint that decides whether an `Idempotency-Key` is reused with the same body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunRequest {
    /// The caller's key.
    pub business_key: BusinessKey,
    /// Amount to charge.
    pub amount: f64,
    /// Attempts that fail on purpose before the side effect.
    pub fail_before_effect_n: u32,
    /// Where the worker crashes on purpose.
    pub fail_mode: FailMode,
    /// Attempts before the dead letter.
    pub max_attempts: u32,
}

impl RunRequest {
    /// Canonical JSON: fixed field order, every default filled in, so two bodies that mean the
    /// same run (`{"business_key":"k"}` and `{"business_key":"k","amount":49.99}`) are equal.
    pub fn canonical_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }

    /// The first command of the run (attempt 0 of `charge_card`), exactly as the original.
    pub fn first_command(&self, run_id: &RunId, ts: i64) -> RunCommand {
        self.command(run_id, 0, ts)
    }

    /// The command of attempt `attempt` (0-based) of the run's step: the first command with
    /// its attempt number replaced, which is what every retry is too.
    pub fn command(&self, run_id: &RunId, attempt: u32, ts: i64) -> RunCommand {
        RunCommand {
            ts,
            run_id: run_id.clone(),
            events_topic: events_topic(run_id),
            step_id: StepId::charge_card(),
            business_key: self.business_key.clone(),
            amount: self.amount,
            attempt,
            max_attempts: self.max_attempts,
            fail_before_effect_n: self.fail_before_effect_n,
            fail_mode: self.fail_mode,
            redrive: None,
        }
    }
}
