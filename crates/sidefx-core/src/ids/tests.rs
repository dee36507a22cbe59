//! Unit tests for the id newtypes: accepted shapes, rejections and serde round trips.

use super::*;

#[test]
fn generated_run_ids_are_32_lowercase_hex_and_parse() {
    let id = RunId::generate();
    assert_eq!(id.as_str().len(), 32);
    assert!(
        id.as_str()
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(RunId::parse(id.as_str()).unwrap(), id);
    assert_ne!(RunId::generate(), id);
}

#[test]
fn run_id_rules() {
    assert!(RunId::parse("run_1-A").is_ok());
    assert!(RunId::parse(&"a".repeat(64)).is_ok());
    for bad in ["", "a:b", "a.b", "a/b", "a b", &"a".repeat(65)] {
        let err = RunId::parse(bad).unwrap_err();
        assert_eq!(err.field(), "run_id", "{bad:?}");
    }
}

#[test]
fn step_id_rules() {
    assert_eq!(StepId::charge_card().as_str(), "charge_card");
    assert!(StepId::parse("v2.charge-card").is_ok());
    for bad in ["", "a:b", "a/b", &"s".repeat(65)] {
        assert_eq!(
            StepId::parse(bad).unwrap_err().field(),
            "step_id",
            "{bad:?}"
        );
    }
}

#[test]
fn business_key_accepts_file_name_safe_keys() {
    for good in [
        "order-123",
        "pi_3N:x.y",
        "a",
        "A.b",
        "x..y",
        &"k".repeat(128),
    ] {
        assert_eq!(BusinessKey::parse(good).unwrap().as_str(), good);
    }
}

#[test]
fn business_key_rejects_paths_and_hidden_files() {
    let long = "k".repeat(129);
    for bad in [
        "../x", "a/b", "a\\b", "", ".hidden", "..", ".", "a b", "é", "a\0b", &long,
    ] {
        let err = BusinessKey::parse(bad).unwrap_err();
        assert_eq!(err.field(), "business_key", "{bad:?}");
        assert!(err.to_string().contains("not starting with '.'"), "{err}");
    }
}

#[test]
fn deserialization_goes_through_the_check() {
    let ok: BusinessKey = serde_json::from_str(r#""order-1""#).unwrap();
    assert_eq!(ok.as_str(), "order-1");
    let err = serde_json::from_str::<BusinessKey>(r#""../etc/passwd""#).unwrap_err();
    assert!(err.to_string().contains("invalid business_key"), "{err}");
    assert!(serde_json::from_str::<RunId>(r#""""#).is_err());
    assert!(serde_json::from_str::<StepId>(r#""a:b""#).is_err());
    assert_eq!(serde_json::to_string(&ok).unwrap(), r#""order-1""#);
}

#[test]
fn effect_id_joins_and_splits_its_parts() {
    let run = RunId::parse("r1").unwrap();
    let step = StepId::charge_card();
    let key = BusinessKey::parse("ns:order:7").unwrap();
    let id = EffectId::new(&run, &step, &key);
    assert_eq!(id.as_str(), "r1:charge_card:ns:order:7");
    assert_eq!(id.to_string(), id.as_str());

    let parsed = EffectId::parse(id.as_str()).unwrap();
    assert_eq!(parsed, id);
    assert_eq!(parsed.run_id(), &run);
    assert_eq!(parsed.step_id(), &step);
    assert_eq!(parsed.business_key(), &key);

    let json = serde_json::to_string(&id).unwrap();
    assert_eq!(json, r#""r1:charge_card:ns:order:7""#);
    assert_eq!(serde_json::from_str::<EffectId>(&json).unwrap(), id);
}

#[test]
fn effect_id_rejects_malformed_strings() {
    for bad in [
        "",
        "r1",
        "r1:charge_card",
        "r1:charge_card:../x",
        "r/1:s:k",
        "r1::k",
    ] {
        assert!(EffectId::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
#[cfg(feature = "openapi")]
fn schemas_document_pattern_and_length() {
    use utoipa::{PartialSchema, ToSchema};
    let schema = serde_json::to_value(BusinessKey::schema()).unwrap();
    assert_eq!(schema["type"], "string");
    assert_eq!(schema["maxLength"], 128);
    assert_eq!(schema["minLength"], 1);
    assert!(schema["pattern"].as_str().unwrap().starts_with('^'));
    assert_eq!(BusinessKey::name(), "BusinessKey");
    assert_eq!(EffectId::name(), "EffectId");
}
