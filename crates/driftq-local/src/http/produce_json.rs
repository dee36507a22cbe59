//! The JSON form of `POST /v1/produce` (§2.5.2): no trimming, no sign checks,
//! an explicit `{}` envelope is kept; member names are matched the Go way
//! ([`super::gojson`]).

use serde::de::MapAccess;

use crate::deadline;
use crate::error::ApiError;
use crate::http::gojson::{self, GoStruct, go_deserialize, keep, pointer};
use crate::model::{Envelope, RetryPolicy};
use crate::state::produce::ProduceRequest;

#[derive(Default)]
struct ProduceBody {
    topic: Option<String>,
    key: Option<String>,
    value: Option<String>,
    envelope: Option<EnvelopeBody>,
}

impl GoStruct for ProduceBody {
    const FIELDS: &'static [&'static str] = &["topic", "key", "value", "envelope"];

    fn set_field<'de, A: MapAccess<'de>>(&mut self, i: usize, m: &mut A) -> Result<(), A::Error> {
        match i {
            0 => keep(&mut self.topic, m),
            1 => keep(&mut self.key, m),
            2 => keep(&mut self.value, m),
            _ => pointer(&mut self.envelope, m),
        }
    }
}
go_deserialize!(ProduceBody);

#[derive(Default)]
struct EnvelopeBody {
    run_id: Option<String>,
    step_id: Option<String>,
    parent_step_id: Option<String>,
    tenant_id: Option<String>,
    idempotency_key: Option<String>,
    target_topic: Option<String>,
    deadline: Option<String>,
    retry_policy: Option<RetryPolicyBody>,
    partition_override: Option<i64>,
}

impl GoStruct for EnvelopeBody {
    const FIELDS: &'static [&'static str] = &[
        "run_id",
        "step_id",
        "parent_step_id",
        "tenant_id",
        "idempotency_key",
        "target_topic",
        "deadline",
        "retry_policy",
        "partition_override",
    ];

    fn set_field<'de, A: MapAccess<'de>>(&mut self, i: usize, m: &mut A) -> Result<(), A::Error> {
        match i {
            0 => keep(&mut self.run_id, m),
            1 => keep(&mut self.step_id, m),
            2 => keep(&mut self.parent_step_id, m),
            3 => keep(&mut self.tenant_id, m),
            4 => keep(&mut self.idempotency_key, m),
            5 => keep(&mut self.target_topic, m),
            6 => keep(&mut self.deadline, m),
            7 => pointer(&mut self.retry_policy, m),
            _ => pointer(&mut self.partition_override, m),
        }
    }
}
go_deserialize!(EnvelopeBody);

#[derive(Default)]
struct RetryPolicyBody {
    max_attempts: Option<i64>,
    backoff_ms: Option<i64>,
    max_backoff_ms: Option<i64>,
}

impl GoStruct for RetryPolicyBody {
    const FIELDS: &'static [&'static str] = &["max_attempts", "backoff_ms", "max_backoff_ms"];

    fn set_field<'de, A: MapAccess<'de>>(&mut self, i: usize, m: &mut A) -> Result<(), A::Error> {
        match i {
            0 => keep(&mut self.max_attempts, m),
            1 => keep(&mut self.backoff_ms, m),
            _ => keep(&mut self.max_backoff_ms, m),
        }
    }
}
go_deserialize!(RetryPolicyBody);

/// Decodes and checks a JSON produce body.
pub fn from_json(body: &[u8]) -> Result<ProduceRequest, ApiError> {
    let b: ProduceBody = gojson::decode_struct(body)?;
    let mut at = None;
    let envelope = match b.envelope {
        Some(mut e) => {
            let deadline = match e.deadline.take() {
                Some(s) => {
                    let d = deadline::parse_rfc3339(&s)
                        .map_err(|e| ApiError::invalid(format!("invalid json body: {e}")))?;
                    at = Some(d.at);
                    Some(d.rendered)
                }
                None => None,
            };
            Some(envelope(e, deadline))
        }
        None => None,
    };
    let topic = b.topic.unwrap_or_default();
    let value = b.value.unwrap_or_default();
    if topic.trim().is_empty() || value.is_empty() {
        return Err(ApiError::invalid("topic and value are required"));
    }
    Ok(ProduceRequest {
        topic,
        key: b.key.unwrap_or_default().into_bytes(),
        value: value.into_bytes(),
        envelope,
        deadline: at,
    })
}

fn envelope(e: EnvelopeBody, deadline: Option<String>) -> Envelope {
    Envelope {
        run_id: e.run_id.unwrap_or_default(),
        step_id: e.step_id.unwrap_or_default(),
        parent_step_id: e.parent_step_id.unwrap_or_default(),
        tenant_id: e.tenant_id.unwrap_or_default(),
        idempotency_key: e.idempotency_key.unwrap_or_default(),
        target_topic: e.target_topic.unwrap_or_default(),
        deadline,
        retry_policy: e.retry_policy.map(|p| RetryPolicy {
            max_attempts: p.max_attempts.unwrap_or(0),
            backoff_ms: p.backoff_ms.unwrap_or(0),
            max_backoff_ms: p.max_backoff_ms.unwrap_or(0),
        }),
        partition_override: e.partition_override,
    }
}
