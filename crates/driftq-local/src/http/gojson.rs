//! Decoding the fixed-structure request bodies (topics, produce, consume)
//! the way Go's `encoding/json` decodes into a struct with
//! `DisallowUnknownFields` (§1.6):
//!
//! * member names match a field exactly, or else case-insensitively
//!   (`{"Topic":"t","VALUE":"v"}` is a valid produce), with Go's folding:
//!   ASCII case plus the few non-ASCII letters that fold onto ASCII ones
//!   (`K` Kelvin sign → `k`, `ſ` → `s`, `ı`/`İ` → `i`);
//! * a member matching no field is an error (`json: unknown field "x"`);
//! * a repeated member is decoded again and the last one wins (no error);
//! * `null` leaves a plain field untouched but resets a pointer field
//!   (`envelope`, `retry_policy`, `partition_override`);
//! * a top-level `null` decodes to the empty structure.
//!
//! ack/nack bodies are different — an allow list with exact keys — and are
//! decoded in [`super::ack`].

use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::error::ApiError;
use crate::http::input;

/// A request structure decoded with Go's rules.
pub trait GoStruct: Default {
    /// Field names as written in the Go struct's `json` tags.
    const FIELDS: &'static [&'static str];

    /// Decodes the value of field `FIELDS[index]` from `map` into `self`.
    fn set_field<'de, A: MapAccess<'de>>(
        &mut self,
        index: usize,
        map: &mut A,
    ) -> Result<(), A::Error>;
}

/// Implements `Deserialize` for a [`GoStruct`] through [`GoVisitor`].
macro_rules! go_deserialize {
    ($t:ty) => {
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::http::gojson::deserialize(d)
            }
        }
    };
}
pub(crate) use go_deserialize;

/// Decodes the first JSON value of a body into `T`; a top-level `null` is the
/// empty structure, as in Go.
pub fn decode_struct<T: GoStruct + DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    input::decode::<Option<T>>(body).map(Option::unwrap_or_default)
}

/// A plain (non-pointer) Go field: `null` leaves the current value.
pub fn keep<'de, A: MapAccess<'de>, V: Deserialize<'de>>(
    slot: &mut Option<V>,
    map: &mut A,
) -> Result<(), A::Error> {
    if let Some(v) = map.next_value::<Option<V>>()? {
        *slot = Some(v);
    }
    Ok(())
}

/// A pointer Go field: `null` resets it.
pub fn pointer<'de, A: MapAccess<'de>, V: Deserialize<'de>>(
    slot: &mut Option<V>,
    map: &mut A,
) -> Result<(), A::Error> {
    *slot = map.next_value::<Option<V>>()?;
    Ok(())
}

/// `Deserialize::deserialize` of every [`GoStruct`].
pub fn deserialize<'de, D: Deserializer<'de>, T: GoStruct>(d: D) -> Result<T, D::Error> {
    d.deserialize_map(GoVisitor(PhantomData))
}

/// Walks the members in document order, so the last duplicate wins.
struct GoVisitor<T>(PhantomData<T>);

impl<'de, T: GoStruct> Visitor<'de> for GoVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut out = T::default();
        while let Some(key) = map.next_key::<String>()? {
            match field_index(T::FIELDS, &key) {
                Some(i) => out.set_field(i, &mut map)?,
                None => {
                    return Err(A::Error::custom(format_args!(
                        "json: unknown field {key:?}"
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// Go prefers an exact match and falls back to a case-insensitive one.
pub fn field_index(fields: &[&str], key: &str) -> Option<usize> {
    fields.iter().position(|f| *f == key).or_else(|| {
        let folded = fold(key);
        fields.iter().position(|f| fold(f) == folded)
    })
}

/// Go's `foldName`: ASCII letters upper-cased, every other rune mapped to
/// `ToUpper(ToLower(r))` with Go's one-to-one (simple) case mappings.
fn fold(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii() {
                return c.to_ascii_uppercase();
            }
            // Only U+0130 (İ) lowercases to more than one char; Go's simple
            // mapping gives its first one, `i`.
            let lower = c.to_lowercase().next().unwrap_or(c);
            let mut upper = lower.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                _ => lower,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::field_index;

    const FIELDS: &[&str] = &["topic", "key", "step_id", "lease_ms"];

    #[test]
    fn matches_like_go() {
        assert_eq!(field_index(FIELDS, "topic"), Some(0));
        assert_eq!(field_index(FIELDS, "TOPIC"), Some(0));
        assert_eq!(field_index(FIELDS, "Step_Id"), Some(2));
        assert_eq!(field_index(FIELDS, "\u{212a}ey"), Some(1)); // Kelvin sign
        assert_eq!(field_index(FIELDS, "\u{17f}tep_id"), Some(2)); // long s
        assert_eq!(field_index(FIELDS, "lea\u{17f}e_m\u{17f}"), Some(3));
        assert_eq!(field_index(FIELDS, "step-id"), None);
        assert_eq!(field_index(FIELDS, "stepid"), None);
        assert_eq!(field_index(FIELDS, "topic "), None);
    }
}
