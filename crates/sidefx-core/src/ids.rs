//! Identifier newtypes with one checked constructor each ("parse, don't validate").
//!
//! Every id that reaches a file name, a SQL row or a broker key has been through `parse`, and
//! serde deserialization goes through the same check, so an invalid id cannot exist in memory.

#[cfg(feature = "openapi")]
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
#[cfg(feature = "openapi")]
use utoipa::openapi::RefOr;
#[cfg(feature = "openapi")]
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

mod effect_id;
#[cfg(test)]
mod tests;

pub use effect_id::EffectId;

/// An identifier failed its check; names the field and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {rule}")]
pub struct IdError {
    field: &'static str,
    rule: &'static str,
}

impl IdError {
    /// The field that was rejected, e.g. `business_key`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The rule it broke, in words a client can act on.
    pub fn rule(&self) -> &'static str {
        self.rule
    }
}

/// Checks length and alphabet; the rule text is what a client sees in a 400 response.
fn check(
    field: &'static str,
    value: &str,
    max_len: usize,
    allowed: fn(u8) -> bool,
    rule: &'static str,
) -> Result<(), IdError> {
    let fits = !value.is_empty() && value.len() <= max_len;
    if fits && value.bytes().all(allowed) {
        Ok(())
    } else {
        Err(IdError { field, rule })
    }
}

/// Builds the OpenAPI schema of an id: a string with its length bounds and pattern.
#[cfg(feature = "openapi")]
fn string_schema(description: &str, pattern: &str, max_len: usize) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(pattern))
        .min_length(Some(1))
        .max_length(Some(max_len))
        .into()
}

/// Implements the traits every string id shares: `as_str`, `Display`, `FromStr`, `AsRef<str>`,
/// `TryFrom<String>` (which serde uses, so deserializing runs the check) and `ToSchema`.
macro_rules! string_id {
    ($ty:ident, $description:expr, $pattern:expr, $max_len:expr) => {
        impl $ty {
            /// The id as it appears on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $ty {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                string_schema($description, $pattern, $max_len)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($ty))
            }
        }
    };
}

const RUN_ID_MAX: usize = 64;
const STEP_ID_MAX: usize = 64;
const BUSINESS_KEY_MAX: usize = 128;

/// Identifies one run (one `POST /runs`). Generated as 32 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct RunId(String);

impl RunId {
    /// A fresh random id: a UUID v4 in its simple form (32 lowercase hex characters).
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Accepts 1–64 characters of `[A-Za-z0-9_-]`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        check(
            "run_id",
            s,
            RUN_ID_MAX,
            allowed,
            "1-64 characters of [A-Za-z0-9_-]",
        )?;
        Ok(Self(s.to_owned()))
    }
}

string_id!(
    RunId,
    "Run id: 1-64 characters of [A-Za-z0-9_-].",
    "^[A-Za-z0-9_-]{1,64}$",
    RUN_ID_MAX
);

/// Identifies a step of a run, e.g. `charge_card`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct StepId(String);

impl StepId {
    /// Accepts 1–64 characters of `[A-Za-z0-9_.-]` (no `:`, which separates effect id parts).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
        check(
            "step_id",
            s,
            STEP_ID_MAX,
            allowed,
            "1-64 characters of [A-Za-z0-9_.-]",
        )?;
        Ok(Self(s.to_owned()))
    }

    /// The one step the demo runs.
    pub fn charge_card() -> Self {
        Self("charge_card".to_owned())
    }
}

string_id!(
    StepId,
    "Step id: 1-64 characters of [A-Za-z0-9_.-].",
    "^[A-Za-z0-9_.-]{1,64}$",
    STEP_ID_MAX
);

/// The caller's real-world key (order id, payment intent, ticket id).
///
/// It becomes part of a file name (`ticket_<key>.json`), so the alphabet has no `/`, no `\`
/// and the key cannot start with `.`: `..`, `../x` and hidden files are impossible.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct BusinessKey(String);

impl BusinessKey {
    /// Accepts 1–128 characters of `[A-Za-z0-9._:-]`, not starting with `.`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        const RULE: &str = "1-128 characters of [A-Za-z0-9._:-], not starting with '.'";
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-');
        check("business_key", s, BUSINESS_KEY_MAX, allowed, RULE)?;
        if s.starts_with('.') {
            return Err(IdError {
                field: "business_key",
                rule: RULE,
            });
        }
        Ok(Self(s.to_owned()))
    }
}

string_id!(
    BusinessKey,
    "Business key: 1-128 characters of [A-Za-z0-9._:-], not starting with '.'.",
    "^[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,127}$",
    BUSINESS_KEY_MAX
);
