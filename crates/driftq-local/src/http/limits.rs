//! Input limits the real broker does not have: values that would harm the machine a
//! local broker runs on (memory held for every message, names used in file paths by
//! tools, log lines split by control characters). Each refusal is a 400
//! `INVALID_ARGUMENT`, the real broker's shape for every validation failure, and each
//! one is listed in the README. The recorded conformance scenarios stay far below all
//! of them.

use crate::error::ApiError;
use crate::model::Envelope;
use crate::state::produce::ProduceRequest;

/// Longest topic name, in bytes (a common file-name limit; `dlq.` is added to it).
pub const MAX_TOPIC_NAME_BYTES: usize = 255;
/// Most partitions per topic (each costs memory per group and per dispatch pass).
pub const MAX_PARTITIONS: u32 = 1024;
/// Longest message key, in bytes.
pub const MAX_KEY_BYTES: usize = 64 * 1024;
/// Longest group or owner name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Longest envelope string (ids, tenant, idempotency key), in bytes.
pub const MAX_ENVELOPE_FIELD_BYTES: usize = 1024;
/// Longest nack reason, in bytes (it is appended to `last_error` on every nack).
pub const MAX_REASON_BYTES: usize = 4096;

/// A topic name to create: at most 255 bytes, no control characters, no path
/// separators, not `.` or `..`.
pub fn topic_name(name: &str) -> Result<(), ApiError> {
    let bad = name.len() > MAX_TOPIC_NAME_BYTES
        || name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
        || name == "."
        || name == "..";
    if bad {
        return Err(ApiError::invalid(format!(
            "invalid topic name: at most {MAX_TOPIC_NAME_BYTES} bytes, \
             no control characters, no '/' or '\\', not '.' or '..'"
        )));
    }
    Ok(())
}

/// A consumer group or owner name: at most 255 bytes, no control characters.
pub fn name(field: &str, value: &str) -> Result<(), ApiError> {
    if value.len() > MAX_NAME_BYTES || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "invalid {field}: at most {MAX_NAME_BYTES} bytes, no control characters"
        )));
    }
    Ok(())
}

/// A nack reason: at most 4 KiB.
pub fn reason(reason: &str) -> Result<(), ApiError> {
    if reason.len() > MAX_REASON_BYTES {
        return Err(ApiError::invalid(format!(
            "reason too long (at most {MAX_REASON_BYTES} bytes)"
        )));
    }
    Ok(())
}

/// A produce request: key and envelope strings within their limits.
pub fn produce(req: &ProduceRequest) -> Result<(), ApiError> {
    if req.key.len() > MAX_KEY_BYTES {
        return Err(ApiError::invalid(format!(
            "key too long (at most {MAX_KEY_BYTES} bytes)"
        )));
    }
    req.envelope.as_ref().map_or(Ok(()), envelope)
}

fn envelope(e: &Envelope) -> Result<(), ApiError> {
    let fields = [
        ("run_id", &e.run_id),
        ("step_id", &e.step_id),
        ("parent_step_id", &e.parent_step_id),
        ("tenant_id", &e.tenant_id),
        ("idempotency_key", &e.idempotency_key),
        ("target_topic", &e.target_topic),
    ];
    for (field, value) in fields {
        if value.len() > MAX_ENVELOPE_FIELD_BYTES {
            return Err(ApiError::invalid(format!(
                "{field} too long (at most {MAX_ENVELOPE_FIELD_BYTES} bytes)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        for ok in ["orders", " padded ", "a.b-c_d", "ünï", &"x".repeat(255)] {
            assert!(topic_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "../x",
            "a/b",
            "a\\b",
            "a\0b",
            "a\nb",
            ".",
            "..",
            &"x".repeat(256),
        ] {
            assert!(topic_name(bad).is_err(), "{bad:?}");
        }
    }
}
