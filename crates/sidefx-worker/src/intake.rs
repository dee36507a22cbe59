//! Command intake: what the worker checks before it runs a command. Anyone who can produce
//! to `sidefx.commands` can skip the API, so a command is held to the API's rules, must name
//! a run the API registered, and only crashes the worker on purpose when `SIDEFX_CHAOS` is on.
//!
//! A refused command is dead-lettered with its reason (a [`DlqRecord`] with `refused: true`,
//! keyed apart from the run's own dead letter) and then acked: left unacked it would be
//! redelivered for ever, holding one of its partition's two in-flight slots.

use driftq_client::Message;
use sidefx_core::telemetry::untrusted;
use sidefx_core::{DlqRecord, FailMode, RunCommand, now_ms};
use tracing::{error, warn};

use crate::context::{StepContext, StepError};
use crate::outcome::StepOutcome;

/// What intake decided about a decoded command.
#[derive(Debug)]
pub enum Admission {
    /// Run the step on this command (its chaos switches cleared unless `SIDEFX_CHAOS`).
    Run(RunCommand),
    /// Refused and dead-lettered: the step is over, ack the command.
    Refused(StepOutcome),
}

/// Checks `cmd` and either admits it or dead-letters it with the reason. Fails (no ack, the
/// command is redelivered) only if the store cannot be read or the DLQ publish fails.
pub async fn admit(ctx: &StepContext, cmd: RunCommand) -> Result<Admission, StepError> {
    let Some(reason) = refusal(ctx, &cmd).await? else {
        return Ok(Admission::Run(chaos_checked(ctx.chaos, cmd)));
    };
    // The command's fields passed decoding (ids and business key are checked types), so
    // they are safe to log; the reason is ours.
    warn!(run_id = %cmd.run_id, business_key = %cmd.business_key, attempt = cmd.attempt,
        reason, "command refused at intake: dead-lettering it without running it");
    ctx.publisher
        .dead_letter(&DlqRecord::refused(&cmd, reason.as_str(), now_ms()))
        .await?;
    Ok(Admission::Refused(StepOutcome::Refused { reason }))
}

/// Why `cmd` must not run, if it must not: a broken rule (the same rules the API applies to
/// a request), a run the store does not know, or a business key that is not the run's.
///
/// Checking the run's row costs one indexed read per command; it is what stops a forged
/// command from writing a ticket, or charging, for a run nobody created (verify would
/// otherwise find nothing wrong: the effect has its row and its ticket).
async fn refusal(ctx: &StepContext, cmd: &RunCommand) -> Result<Option<String>, StepError> {
    if let Err(violation) = cmd.validate() {
        return Ok(Some(violation.to_string()));
    }
    Ok(match ctx.store.get_run(&cmd.run_id).await? {
        None => Some("run_id: no such run".to_owned()),
        Some(run) if run.business_key != cmd.business_key => {
            Some("business_key: not the run's business key".to_owned())
        }
        Some(_) => None,
    })
}

/// `cmd` as it may run: with `SIDEFX_CHAOS` off, its chaos switches are cleared (and a
/// warning says so), so a client cannot crash or fail the worker on purpose. Not a refusal:
/// the run itself is legitimate, only the switches are not honoured.
fn chaos_checked(chaos: bool, cmd: RunCommand) -> RunCommand {
    let asks = cmd.fail_mode != FailMode::None || cmd.fail_before_effect_n != 0;
    if chaos || !asks {
        return cmd;
    }
    warn!(run_id = %cmd.run_id, fail_mode = %cmd.fail_mode,
        fail_before_effect_n = cmd.fail_before_effect_n,
        "command sets chaos switches but SIDEFX_CHAOS is off: running it without them");
    RunCommand {
        fail_mode: FailMode::None,
        fail_before_effect_n: 0,
        ..cmd
    }
}

/// The outcome of a message that is not a command: acked with an error log (see
/// `step::handle_message`). The value and the decoder's complaint (which quotes the value)
/// are someone else's text, so they are logged escaped and cut.
pub fn undecodable(msg: &Message, err: &serde_json::Error) -> StepOutcome {
    let error = err.to_string();
    error!(
        partition = msg.partition,
        offset = msg.offset,
        error = %untrusted(&error),
        value = %untrusted(&msg.value),
        "undecodable command: acking it without running (it can never succeed)",
    );
    StepOutcome::Undecodable { error }
}
