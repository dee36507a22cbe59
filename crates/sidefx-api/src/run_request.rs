//! The body of `POST /runs`: what arrives on the wire ([`CreateRunBody`], every field
//! optional so that each problem can be reported by name) and what the API works with after
//! validation ([`RunRequest`], defined in `sidefx-core` because the worker reads it back too).

use serde::Deserialize;
pub use sidefx_core::RunRequest;
use sidefx_core::messages::rules::{
    self, DEFAULT_AMOUNT, DEFAULT_MAX_ATTEMPTS, FAIL_BEFORE_EFFECT_RANGE, MAX_ATTEMPTS_RANGE,
};
use sidefx_core::{BusinessKey, FailMode, RuleViolation};
use utoipa::ToSchema;

use crate::error::ApiError;

/// Request body of `POST /runs`, as sent. An unknown field is a 422 naming it (the original
/// ignored it, so a typo such as `"amout": 3` silently charged the default amount).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRunBody {
    /// Your real-world key (order id, payment intent, ticket id): 1–128 characters of
    /// `[A-Za-z0-9._:-]`, not starting with `.`. One ticket is written per key.
    #[schema(required = true, nullable = false, value_type = String, example = "order-42")]
    pub business_key: Option<String>,
    /// Amount to charge: finite and not negative.
    #[schema(value_type = f64, required = false, nullable = false, default = 49.99, minimum = 0.0, example = 49.99)]
    pub amount: Option<f64>,
    /// Demo switch: how many attempts fail before the side effect (proves retries are safe).
    #[schema(value_type = i64, required = false, nullable = false, default = 0, minimum = 0, maximum = 100)]
    pub fail_before_effect_n: Option<i64>,
    /// Demo switch: where the worker crashes on purpose (`none` = never).
    #[schema(value_type = FailMode, required = false, nullable = false, default = "none")]
    pub fail_mode: Option<FailMode>,
    /// Attempts before the run is dead-lettered.
    #[schema(value_type = i64, required = false, nullable = false, default = 5, minimum = 1, maximum = 20)]
    pub max_attempts: Option<i64>,
}

impl CreateRunBody {
    /// Applies the defaults and checks every field with the rules the worker applies to a
    /// command too (`sidefx_core::messages::rules`); the error names the first bad field.
    pub fn validate(self) -> Result<RunRequest, ApiError> {
        let business_key = match self.business_key {
            None => return Err(ApiError::invalid("business_key", "is required")),
            Some(raw) => BusinessKey::parse(&raw)
                .map_err(|err| ApiError::invalid("business_key", err.rule()))?,
        };
        let fail_before_effect_n = self.fail_before_effect_n.unwrap_or(0);
        let max_attempts = self.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS.into());
        Ok(RunRequest {
            business_key,
            amount: rules::check_amount(self.amount.unwrap_or(DEFAULT_AMOUNT)).map_err(invalid)?,
            fail_before_effect_n: rules::check_range(
                "fail_before_effect_n",
                fail_before_effect_n,
                FAIL_BEFORE_EFFECT_RANGE,
            )
            .map_err(invalid)?,
            fail_mode: self.fail_mode.unwrap_or_default(),
            max_attempts: rules::check_range("max_attempts", max_attempts, MAX_ATTEMPTS_RANGE)
                .map_err(invalid)?,
        })
    }
}

/// Refuses a request that sets a chaos switch unless the server runs with `SIDEFX_CHAOS`:
/// `fail_mode` crashes a worker on purpose, so without this any client could take the
/// workers down. A request that spells out the defaults (`"fail_mode":"none"`) passes.
pub fn check_chaos(request: &RunRequest, chaos_enabled: bool) -> Result<(), ApiError> {
    if chaos_enabled {
        return Ok(());
    }
    if request.fail_mode != FailMode::None {
        return Err(ApiError::ChaosDisabled { field: "fail_mode" });
    }
    if request.fail_before_effect_n != 0 {
        return Err(ApiError::ChaosDisabled {
            field: "fail_before_effect_n",
        });
    }
    Ok(())
}

/// The 422 of a broken rule.
fn invalid(violation: RuleViolation) -> ApiError {
    ApiError::invalid(violation.field, violation.rule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::decode_json;

    fn validate(json: &str) -> Result<RunRequest, ApiError> {
        decode_json::<CreateRunBody>(json.as_bytes())?.validate()
    }

    fn field_of(json: &str) -> String {
        match validate(json) {
            Err(ApiError::InvalidRequest { field, .. }) => field.into_owned(),
            other => panic!("expected a 422 for {json}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_the_originals() {
        let request = validate(r#"{"business_key":"order-1"}"#).unwrap();
        assert_eq!(request.amount, 49.99);
        assert_eq!(request.fail_before_effect_n, 0);
        assert_eq!(request.fail_mode, FailMode::None);
        assert_eq!(request.max_attempts, 5);
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases = [
            (r#"{}"#, "business_key"),
            (r#"{"business_key":"../etc"}"#, "business_key"),
            (r#"{"business_key":""}"#, "business_key"),
            (r#"{"business_key":7}"#, "business_key"),
            (r#"{"business_key":"k","amount":-1}"#, "amount"),
            (r#"{"business_key":"k","amount":-0}"#, "amount"),
            (r#"{"business_key":"k","amount":-0.0}"#, "amount"),
            (r#"{"business_key":"k","amount":"1"}"#, "amount"),
            (r#"{"business_key":"k","max_attempts":0}"#, "max_attempts"),
            (r#"{"business_key":"k","max_attempts":21}"#, "max_attempts"),
            (r#"{"business_key":"k","fail_mode":"explode"}"#, "fail_mode"),
            (
                r#"{"business_key":"k","fail_before_effect_n":-1}"#,
                "fail_before_effect_n",
            ),
            (
                r#"{"business_key":"k","fail_before_effect_n":101}"#,
                "fail_before_effect_n",
            ),
        ];
        for (json, field) in cases {
            assert_eq!(field_of(json), field, "{json}");
        }
    }

    #[test]
    fn an_unknown_field_is_named_not_ignored() {
        assert_eq!(field_of(r#"{"business_key":"k","amout":3}"#), "amout");
        let Err(ApiError::InvalidRequest { message, .. }) =
            validate(r#"{"business_key":"k","amout":3}"#)
        else {
            panic!("expected a 422");
        };
        assert!(
            message.contains("unknown field") && message.contains("amount"),
            "{message}"
        );
    }

    #[test]
    fn huge_numbers_are_rejected_not_wrapped() {
        assert_eq!(
            field_of(r#"{"business_key":"k","max_attempts":4294967297}"#),
            "max_attempts"
        );
        assert!(matches!(
            validate(r#"{"business_key":"k","amount":1e999}"#),
            Err(ApiError::InvalidRequest { .. } | ApiError::MalformedJson(_))
        ));
    }

    #[test]
    fn canonical_json_ignores_how_defaults_were_spelled() {
        let short = validate(r#"{"business_key":"k"}"#).unwrap();
        let long =
            validate(r#"{"max_attempts":5,"fail_mode":"none","amount":49.99,"business_key":"k"}"#)
                .unwrap();
        assert_eq!(
            short.canonical_json().unwrap(),
            long.canonical_json().unwrap()
        );
        let other = validate(r#"{"business_key":"k","amount":1}"#).unwrap();
        assert_ne!(
            short.canonical_json().unwrap(),
            other.canonical_json().unwrap()
        );
    }

    #[test]
    fn first_command_matches_the_original() {
        let run_id = sidefx_core::RunId::parse("r1").unwrap();
        let request = validate(r#"{"business_key":"k","max_attempts":3}"#).unwrap();
        let command = request.first_command(&run_id, 7);
        assert_eq!(command.idempotency_key(), "cmd:r1:charge_card:k:a0");
        assert_eq!(command.events_topic, "sidefx.events.r1");
        assert_eq!(command.max_attempts, 3);
    }
}
