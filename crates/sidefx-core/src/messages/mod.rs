//! The messages that travel over DriftQ, each type defined once: [`Command`] on
//! `sidefx.commands`, [`Event`] on `sidefx.events.<run_id>` (and over SSE), [`DlqRecord`] on
//! `sidefx.dlq`. JSON shapes, `type` names and idempotency keys are the original starter's.

mod command;
mod dlq;
mod event;
mod request;
pub mod rules;

#[cfg(test)]
mod tests;

pub use command::{Command, FailMode, RunCommand};
pub use dlq::{DlqKind, DlqRecord};
pub use event::{Event, SkipReason};
pub use request::RunRequest;
pub use rules::RuleViolation;

/// Milliseconds since the Unix epoch, the unit of every `ts` field.
///
/// A clock before 1970 yields 0 rather than a panic: timestamps are informational here and
/// never decide a claim on their own.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
