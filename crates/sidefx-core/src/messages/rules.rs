//! The limits of a run, in one place: the API refuses a request that breaks them (422) and
//! the worker refuses a command that does (dead letter), because anyone who can produce to
//! `sidefx.commands` can skip the API.

use std::ops::RangeInclusive;

use super::command::RunCommand;
use crate::ids::StepId;
use crate::topics::events_topic;

/// The original starter's default amount.
pub const DEFAULT_AMOUNT: f64 = 49.99;
/// The original starter's default attempt budget.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Attempts a run may be given; more only delays the dead letter.
///
/// This cap is also what bounds the events one run emits: each failed attempt publishes 4
/// events (`step.started`, `step.failed`, `retry.considered`, `retry.scheduled` or
/// `run.dlq`), the successful one about 5, the API 2, so a run emits at most about 87,
/// under DriftQ's 100 unacked messages per partition (its event topic has one). Without
/// it a forged command with `max_attempts: 100000` retried for ever, filled its events
/// topic and froze one command partition.
pub const MAX_ATTEMPTS_RANGE: RangeInclusive<u32> = 1..=20;
/// Injected failures a run may ask for; anything above `max_attempts` just dead-letters.
pub const FAIL_BEFORE_EFFECT_RANGE: RangeInclusive<u32> = 0..=100;

/// A field breaks a rule: the API's 422 and the worker's dead-letter reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct RuleViolation {
    /// The offending field, e.g. `amount`.
    pub field: &'static str,
    /// What the field must be, in words a client can act on.
    pub rule: String,
}

impl RuleViolation {
    fn new(field: &'static str, rule: impl Into<String>) -> Self {
        RuleViolation {
            field,
            rule: rule.into(),
        }
    }
}

/// A finite amount that is not negative. `-0.0 < 0.0` is false, so the sign bit is
/// checked too: `-0` is not a valid amount.
pub fn check_amount(amount: f64) -> Result<f64, RuleViolation> {
    if !amount.is_finite() || amount.is_sign_negative() {
        return Err(RuleViolation::new("amount", "must be a finite number >= 0"));
    }
    Ok(amount)
}

/// `value` as a `u32` if it lies in `range`; takes an `i64` so that the API can check what
/// a client sent before it is narrowed (4294967297 must not wrap to 1).
pub fn check_range(
    field: &'static str,
    value: i64,
    range: RangeInclusive<u32>,
) -> Result<u32, RuleViolation> {
    u32::try_from(value)
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(|| {
            let (low, high) = (range.start(), range.end());
            RuleViolation::new(field, format!("must be between {low} and {high}"))
        })
}

impl RunCommand {
    /// Checks every field the way the API checks a request, plus what only a command has
    /// (its attempt, step and events topic). Ids and the business key were checked when the
    /// command was decoded. Returns the first broken rule.
    pub fn validate(&self) -> Result<(), RuleViolation> {
        check_amount(self.amount)?;
        check_range("max_attempts", self.max_attempts.into(), MAX_ATTEMPTS_RANGE)?;
        check_range(
            "fail_before_effect_n",
            self.fail_before_effect_n.into(),
            FAIL_BEFORE_EFFECT_RANGE,
        )?;
        if self.attempt >= self.max_attempts {
            return Err(RuleViolation::new("attempt", "must be below max_attempts"));
        }
        if self.step_id != StepId::charge_card() {
            return Err(RuleViolation::new("step_id", "must be charge_card"));
        }
        if self.events_topic != events_topic(&self.run_id) {
            return Err(RuleViolation::new(
                "events_topic",
                "must be sidefx.events.<run_id>",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{BusinessKey, RunId};
    use crate::messages::FailMode;

    fn command() -> RunCommand {
        let run_id = RunId::parse("r1").unwrap();
        RunCommand {
            ts: 1,
            events_topic: events_topic(&run_id),
            run_id,
            step_id: StepId::charge_card(),
            business_key: BusinessKey::parse("k").unwrap(),
            amount: 1.0,
            attempt: 0,
            max_attempts: 5,
            fail_before_effect_n: 0,
            fail_mode: FailMode::None,
            redrive: None,
        }
    }

    #[test]
    fn a_command_the_api_would_build_is_valid() {
        assert_eq!(command().validate(), Ok(()));
        let last = RunCommand {
            attempt: 19,
            max_attempts: 20,
            ..command()
        };
        assert_eq!(last.validate(), Ok(()));
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        let cases: [(RunCommand, &str); 9] = [
            (
                RunCommand {
                    amount: -1.0,
                    ..command()
                },
                "amount",
            ),
            (
                RunCommand {
                    amount: -0.0,
                    ..command()
                },
                "amount",
            ),
            (
                RunCommand {
                    amount: f64::NAN,
                    ..command()
                },
                "amount",
            ),
            (
                RunCommand {
                    max_attempts: 0,
                    attempt: 0,
                    ..command()
                },
                "max_attempts",
            ),
            (
                RunCommand {
                    max_attempts: 1000,
                    ..command()
                },
                "max_attempts",
            ),
            (
                RunCommand {
                    fail_before_effect_n: 101,
                    ..command()
                },
                "fail_before_effect_n",
            ),
            (
                RunCommand {
                    attempt: 5,
                    ..command()
                },
                "attempt",
            ),
            (
                RunCommand {
                    step_id: StepId::parse("other").unwrap(),
                    ..command()
                },
                "step_id",
            ),
            (
                RunCommand {
                    events_topic: "sidefx.events.x".into(),
                    ..command()
                },
                "events_topic",
            ),
        ];
        for (cmd, field) in cases {
            assert_eq!(cmd.validate().map_err(|e| e.field), Err(field), "{cmd:?}");
        }
    }

    #[test]
    fn ranges_do_not_wrap() {
        assert!(check_range("x", 4_294_967_297, MAX_ATTEMPTS_RANGE).is_err());
        assert!(check_range("x", -1, FAIL_BEFORE_EFFECT_RANGE).is_err());
        assert_eq!(check_range("x", 20, MAX_ATTEMPTS_RANGE), Ok(20));
    }
}
