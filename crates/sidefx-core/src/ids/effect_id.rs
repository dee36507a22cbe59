//! [`EffectId`]: the one definition of a side effect's identity.

#[cfg(feature = "openapi")]
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
#[cfg(feature = "openapi")]
use utoipa::openapi::RefOr;
#[cfg(feature = "openapi")]
use utoipa::openapi::schema::Schema;

#[cfg(feature = "openapi")]
use super::{BUSINESS_KEY_MAX, RUN_ID_MAX, STEP_ID_MAX, string_schema};
use super::{BusinessKey, IdError, RunId, StepId};

/// The identity of one side effect: `<run_id>:<step_id>:<business_key>`.
///
/// [`EffectId::new`] is the only place that identity is defined; the store's primary key, the
/// ticket and a real provider's `Idempotency-Key` all use it. Run and step ids contain no `:`,
/// so the string splits back into its parts unambiguously (the business key may contain `:`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EffectId {
    joined: String,
    run_id: RunId,
    step_id: StepId,
    business_key: BusinessKey,
}

impl EffectId {
    /// Joins the three parts; valid parts always make a valid effect id.
    pub fn new(run_id: &RunId, step_id: &StepId, business_key: &BusinessKey) -> Self {
        Self {
            joined: format!("{run_id}:{step_id}:{business_key}"),
            run_id: run_id.clone(),
            step_id: step_id.clone(),
            business_key: business_key.clone(),
        }
    }

    /// Splits `<run_id>:<step_id>:<business_key>` and checks each part.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let rule = "<run_id>:<step_id>:<business_key>";
        let mut parts = s.splitn(3, ':');
        let mut next = || {
            parts.next().ok_or(IdError {
                field: "effect_id",
                rule,
            })
        };
        let (run, step, key) = (next()?, next()?, next()?);
        Ok(Self::new(
            &RunId::parse(run)?,
            &StepId::parse(step)?,
            &BusinessKey::parse(key)?,
        ))
    }

    /// The effect that must happen once: `<step_id>:<business_key>`, the same for every run
    /// of one business key. The claim is unique on it (`side_effects.effect_key`), and it is
    /// the provider's idempotency key: a client that posts the same order twice, as two runs,
    /// still gets one charge. The full effect id (with the run) stays the row's readable name.
    pub fn identity(&self) -> String {
        format!("{}:{}", self.step_id, self.business_key)
    }

    /// The id as it appears in the store and on the wire.
    pub fn as_str(&self) -> &str {
        &self.joined
    }

    /// The run part.
    pub fn run_id(&self) -> &RunId {
        &self.run_id
    }

    /// The step part.
    pub fn step_id(&self) -> &StepId {
        &self.step_id
    }

    /// The business key part.
    pub fn business_key(&self) -> &BusinessKey {
        &self.business_key
    }
}

impl fmt::Display for EffectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.joined)
    }
}

impl AsRef<str> for EffectId {
    fn as_ref(&self) -> &str {
        &self.joined
    }
}

impl FromStr for EffectId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for EffectId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}

impl From<EffectId> for String {
    fn from(id: EffectId) -> String {
        id.joined
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for EffectId {
    fn schema() -> RefOr<Schema> {
        let description = "Effect id: <run_id>:<step_id>:<business_key>.";
        let pattern =
            "^[A-Za-z0-9_-]{1,64}:[A-Za-z0-9_.-]{1,64}:[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,127}$";
        string_schema(
            description,
            pattern,
            RUN_ID_MAX + STEP_ID_MAX + BUSINESS_KEY_MAX + 2,
        )
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for EffectId {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("EffectId")
    }
}
