//! Input generators for `bad_input.rs`: hostile strings, JSON values, request bodies,
//! content types and URI fragments.

use proptest::prelude::*;
use serde_json::{Value, json};

/// Strings that have broken file-path, number and text handling elsewhere.
#[rustfmt::skip]
const NASTY: &[&str] = &[
    "", " ", ".", "..", "../x", "../../etc/passwd", "a/b", "a\\b", "/abs", "/tmp/x", "C:\\x",
    "a\0b", "\0", "%2e%2e", "..%2fx", "NaN", "Infinity", "-Infinity", "-1", "1e400", "ü",
    "😀", "\u{202e}", "order-1", "k:1", ".hidden", "-0", "0x10", "null", "true", "[]", "{}",
];

/// Literal JSON numbers (and non-numbers) spliced into bodies as raw text.
#[rustfmt::skip]
const RAW_NUMBERS: &[&str] = &[
    "1e400", "-1e400", "1e-400", "NaN", "Infinity", "-0", "0.1e1", "18446744073709551616",
    "-9223372036854775809", "123456789012345678901234567890", "01", "1.", ".5", "0x10", "+1",
];

/// Mostly hostile strings (traversal, NUL, unicode, number look-alikes, 10 kB), some any
/// string, some valid business keys.
pub fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(NASTY).prop_map(str::to_owned),
        2 => any::<String>(),
        1 => "[A-Za-z0-9._:-]{1,140}",
        1 => Just("x".repeat(10_000)),
    ]
}

/// Any JSON value, three levels deep, with hostile strings and every kind of number.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        nasty_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The body's real field names, or any string.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(
            &[
                "business_key",
                "amount",
                "max_attempts",
                "fail_before_effect_n",
                "fail_mode"
            ][..]
        )
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

/// Run requests that are nearly right: a valid key, then a random amount and extra fields,
/// so many are accepted (stored and published) and the rest fail one field at a time.
fn near_valid_body() -> impl Strategy<Value = Vec<u8>> {
    let amount = prop_oneof![
        Just(None),
        (0.0f64..1e9).prop_map(|f| Some(json!(f))),
        json_value().prop_map(Some),
    ];
    let extra = proptest::collection::btree_map(field_name(), json_value(), 0..3);
    ("[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,40}", amount, extra).prop_map(|(key, amount, extra)| {
        let mut body: serde_json::Map<String, Value> = extra.into_iter().collect();
        body.insert("business_key".into(), key.into());
        if let Some(amount) = amount {
            body.insert("amount".into(), amount);
        }
        Value::Object(body).to_string().into_bytes()
    })
}

/// Bodies of `POST /runs`: near-valid requests, nasty keys, random objects, any JSON, raw
/// numbers JSON cannot hold, and raw bytes.
pub fn run_body() -> impl Strategy<Value = Vec<u8>> {
    let run_like =
        proptest::collection::btree_map(field_name(), json_value(), 0..6).prop_map(|m| {
            Value::Object(m.into_iter().collect())
                .to_string()
                .into_bytes()
        });
    let nasty_key = (nasty_string(), json_value()).prop_map(|(key, amount)| {
        json!({"business_key": key, "amount": amount})
            .to_string()
            .into_bytes()
    });
    let fields = &["amount", "max_attempts", "fail_before_effect_n"][..];
    let raw_number = (
        proptest::sample::select(RAW_NUMBERS),
        proptest::sample::select(fields),
    )
        .prop_map(|(n, field)| format!(r#"{{"business_key":"k-raw","{field}":{n}}}"#).into_bytes());
    prop_oneof![
        3 => near_valid_body(),
        3 => nasty_key,
        2 => run_like,
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        2 => raw_number,
        1 => proptest::collection::vec(any::<u8>(), 0..512),
        // Over the body limit: 413, still JSON.
        1 => Just(json!({"business_key": "x".repeat(70_000)}).to_string().into_bytes()),
    ]
}

/// Content types other than the plain one: right ones spelled differently, and wrong ones.
#[rustfmt::skip]
const CONTENT_TYPES: &[&str] = &[
    "application/json; charset=utf-8", "APPLICATION/JSON", "application/merge-patch+json",
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/json; charset=latin1", "", "application/", "/json", "application/json;;;",
    "application/jsonx",
];

/// Mostly the right content type, otherwise a variation (right and wrong ones) or none.
pub fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        3 => Just(Some("application/json")),
        2 => proptest::sample::select(CONTENT_TYPES).prop_map(Some),
        1 => Just(None),
    ]
}

/// Percent-encodes everything but unreserved characters, so any string can ride in a URI.
fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Query and path values sent unencoded: broken escapes, NUL, invalid UTF-8, smuggled
/// parameters, numbers at and past the limits.
#[rustfmt::skip]
const RAW_URI_VALUES: &[&str] = &[
    "%", "%zz", "%00", "%ff", "%C0%AF", "a=b", "1&limit=2", "+1", "1e3", "99999999999999999999",
    "-0", "0", "1000", "1001", "60000", "..",
];

/// A query or path value: encoded arbitrary text, or raw text that tests the decoder.
pub fn uri_value() -> impl Strategy<Value = String> {
    let raw = proptest::sample::select(RAW_URI_VALUES);
    prop_oneof![
        3 => nasty_string().prop_map(|s| encode(&s)),
        2 => raw.prop_map(str::to_owned),
        1 => any::<u64>().prop_map(|n| n.to_string()),
    ]
}
