//! Wire-compatibility tests: JSON as the original starter wrote it must parse, round-trip,
//! and produce the original's idempotency keys.

use serde_json::{Value, json};

use super::*;
use crate::ids::{BusinessKey, EffectId, RunId, StepId};

/// A command exactly as the original API produced it (`json.dumps` of its dict).
const ORIGINAL_COMMAND: &str = r#"{"ts":1,"type":"run.command","run_id":"0f3c","events_topic":"sidefx.events.0f3c","step_id":"charge_card","business_key":"order-1","amount":49.99,"attempt":0,"max_attempts":5,"fail_before_effect_n":2,"fail_mode":"crash_after_effect_before_ack"}"#;

fn command() -> RunCommand {
    match serde_json::from_str::<Command>(ORIGINAL_COMMAND).unwrap() {
        Command::Run(c) => c,
    }
}

#[test]
fn original_command_parses_and_round_trips() {
    let cmd = command();
    assert_eq!(cmd.run_id.as_str(), "0f3c");
    assert_eq!(cmd.fail_mode, FailMode::CrashAfterEffectBeforeAck);
    assert_eq!(cmd.fail_before_effect_n, 2);
    let back = serde_json::to_value(Command::Run(cmd)).unwrap();
    assert_eq!(
        back,
        serde_json::from_str::<Value>(ORIGINAL_COMMAND).unwrap()
    );
}

#[test]
fn command_keys_and_next_attempt() {
    let cmd = command();
    assert_eq!(cmd.idempotency_key(), "cmd:0f3c:charge_card:order-1:a0");
    assert_eq!(cmd.effect_id().as_str(), "0f3c:charge_card:order-1");
    let next = cmd.next_attempt(99);
    assert_eq!((next.attempt, next.ts), (1, 99));
    assert_eq!(next.idempotency_key(), "cmd:0f3c:charge_card:order-1:a1");
    assert!(!cmd.is_last_attempt());
    assert!(RunCommand { attempt: 4, ..cmd }.is_last_attempt());
}

#[test]
fn command_defaults_match_the_original_worker() {
    let minimal = r#"{"type":"run.command","ts":1,"run_id":"r","events_topic":"sidefx.events.r","step_id":"charge_card","business_key":"k","amount":1}"#;
    let Command::Run(cmd) = serde_json::from_str(minimal).unwrap();
    assert_eq!(
        (cmd.attempt, cmd.max_attempts, cmd.fail_before_effect_n),
        (0, 5, 0)
    );
    assert_eq!(cmd.fail_mode, FailMode::None);
}

#[test]
fn commands_with_unsafe_keys_or_unknown_types_are_rejected() {
    let bad_key = ORIGINAL_COMMAND.replace("order-1", "../../etc/passwd");
    assert!(serde_json::from_str::<Command>(&bad_key).is_err());
    let bad_type = ORIGINAL_COMMAND.replace("run.command", "run.other");
    assert!(serde_json::from_str::<Command>(&bad_type).is_err());
}

#[test]
fn fail_modes_are_snake_case() {
    for mode in [
        FailMode::None,
        FailMode::CrashAfterClaimBeforeEffect,
        FailMode::CrashAfterEffectBeforeMarkDone,
        FailMode::CrashAfterMarkDoneBeforeAck,
        FailMode::CrashAfterEffectBeforeAck,
    ] {
        assert_eq!(serde_json::to_value(mode).unwrap(), json!(mode.as_str()));
    }
}

/// One JSON line per event type as the original emitted it, with the key it used.
fn original_events() -> Vec<(Value, &'static str)> {
    let e = "r1:charge_card:k1";
    vec![
        (
            json!({"ts":1,"type":"run.created","run_id":"r1","business_key":"k1","amount":49.99}),
            "evt:r1:created",
        ),
        (
            json!({"ts":1,"type":"command.enqueued","run_id":"r1","attempt":0}),
            "evt:r1:enq:a0",
        ),
        (
            json!({"ts":1,"type":"step.started","run_id":"r1","step_id":"charge_card","attempt":2}),
            "evt:r1:charge_card:started:a2",
        ),
        (
            json!({"ts":1,"type":"step.failed","run_id":"r1","step_id":"charge_card","attempt":1,"reason":"forced_failure_before_side_effect"}),
            "evt:r1:charge_card:failed_before:a1",
        ),
        (
            json!({"ts":1,"type":"side_effect.skipped","run_id":"r1","step_id":"charge_card","business_key":"k1","effect_id":e,"reason":"already_done"}),
            "evt:r1:charge_card:effect:skipped",
        ),
        (
            json!({"ts":1,"type":"side_effect.skipped","run_id":"r1","step_id":"charge_card","business_key":"k1","effect_id":e,"reason":"already_in_progress"}),
            "evt:r1:charge_card:effect:skipped_in_progress",
        ),
        (
            json!({"ts":1,"type":"side_effect.healed","run_id":"r1","effect_id":e}),
            "evt:r1:charge_card:effect:healed",
        ),
        (
            json!({"ts":1,"type":"side_effect.executing","run_id":"r1","step_id":"charge_card","business_key":"k1","effect_id":e,"amount":49.99}),
            "evt:r1:charge_card:effect:exec",
        ),
        (
            // A takeover's execution (this port): its own key, so the broker keeps it.
            json!({"ts":1,"type":"side_effect.executing","run_id":"r1","step_id":"charge_card","business_key":"k1","effect_id":e,"amount":49.99,"claim":2}),
            "evt:r1:charge_card:effect:exec:c2",
        ),
        (
            json!({"ts":1,"type":"side_effect.done","run_id":"r1","step_id":"charge_card","business_key":"k1","effect_id":e,"artifact_path":"/data/artifacts/tickets/ticket_k1.json"}),
            "evt:r1:charge_card:effect:done",
        ),
        (
            json!({"ts":1,"type":"step.completed","run_id":"r1","step_id":"charge_card","attempt":0}),
            "evt:r1:charge_card:completed:a0",
        ),
        (
            json!({"ts":1,"type":"run.completed","run_id":"r1"}),
            "evt:r1:completed",
        ),
        (
            json!({"ts":1,"type":"retry.considered","run_id":"r1","step_id":"charge_card","attempt":0,"next_attempt":1,"max_attempts":5,"error":"boom","backoff_s":1.42}),
            "evt:r1:charge_card:retry:considered:a0",
        ),
        (
            json!({"ts":1,"type":"retry.scheduled","run_id":"r1","step_id":"charge_card","attempt":1}),
            "evt:r1:charge_card:retry:scheduled:a1",
        ),
        (
            json!({"ts":1,"type":"run.dlq","run_id":"r1","step_id":"charge_card","error":"boom"}),
            "evt:r1:charge_card:dlq",
        ),
        (
            json!({"ts":1,"type":"side_effect.taken_over","run_id":"r1","step_id":"charge_card","effect_id":e,"previous_owner":"w1"}),
            "evt:r1:charge_card:effect:taken_over:w1",
        ),
        (
            json!({"ts":1,"type":"chaos.crash_now","run_id":"r1","step_id":"charge_card","note":"crashing"}),
            "evt:r1:charge_card:chaos:crash",
        ),
    ]
}

#[test]
fn every_original_event_round_trips_with_the_original_key() {
    for (json, key) in original_events() {
        let event: Event = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(event.idempotency_key(), key, "{json}");
        assert_eq!(event.kind(), json["type"], "{json}");
        assert_eq!(event.run_id().as_str(), "r1");
        assert_eq!(serde_json::to_value(&event).unwrap(), json);
    }
}

#[test]
fn original_chaos_event_without_step_defaults_to_charge_card() {
    let json = json!({"ts":1,"type":"chaos.crash_now","run_id":"r1","note":"x"});
    let event: Event = serde_json::from_value(json).unwrap();
    assert_eq!(event.idempotency_key(), "evt:r1:charge_card:chaos:crash");
}

#[test]
fn dlq_record_matches_the_original() {
    let cmd = command();
    let dlq = DlqRecord::for_command(&cmd, "boom", 7);
    assert_eq!(dlq.idempotency_key(), "dlq:0f3c:charge_card:order-1");
    let json = serde_json::to_value(&dlq).unwrap();
    let original = json!({"ts":7,"type":"sidefx.dlq","run_id":"0f3c","step_id":"charge_card",
        "business_key":"order-1","attempt":0,"max_attempts":5,"error":"boom",
        "command": serde_json::from_str::<Value>(ORIGINAL_COMMAND).unwrap()});
    assert_eq!(json, original);
    assert_eq!(serde_json::from_value::<DlqRecord>(original).unwrap(), dlq);
}

#[test]
fn effect_events_carry_the_shared_effect_id() {
    let run = RunId::parse("r1").unwrap();
    let key = BusinessKey::parse("k1").unwrap();
    let effect_id = EffectId::new(&run, &StepId::charge_card(), &key);
    let event = Event::SideEffectHealed {
        ts: 1,
        run_id: run,
        effect_id,
    };
    assert_eq!(event.idempotency_key(), "evt:r1:charge_card:effect:healed");
    assert!(!event.is_terminal());
}

#[test]
#[cfg(feature = "openapi")]
fn event_schema_documents_every_type() {
    use utoipa::PartialSchema;
    let schema = serde_json::to_string(&Event::schema()).unwrap();
    for (json, _) in original_events() {
        let kind = json["type"].as_str().unwrap();
        assert!(schema.contains(kind), "{kind} missing from schema");
    }
}

#[test]
fn now_ms_is_after_2020() {
    assert!(now_ms() > 1_577_836_800_000);
}

#[test]
fn dlq_record_requires_its_type_tag() {
    let mut json = serde_json::to_value(DlqRecord::for_command(&command(), "e", 1)).unwrap();
    json["type"] = json!("run.dlq");
    assert!(serde_json::from_value::<DlqRecord>(json).is_err());
}

#[test]
#[cfg(feature = "openapi")]
fn dlq_record_schema_names_its_type_tag() {
    use utoipa::PartialSchema;
    let schema = serde_json::to_value(DlqRecord::schema()).unwrap();
    assert_eq!(
        schema["properties"]["type"]["$ref"],
        "#/components/schemas/DlqKind"
    );
}
