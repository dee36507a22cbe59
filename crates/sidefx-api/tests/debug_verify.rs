//! `GET /debug/verify` through the router: 200 with the report when clean, 409
//! `invariant_violated` with the same report shape when not, 422 on bad parameters, and both
//! answers in the OpenAPI document.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use sidefx_api::{AppState, app};
use tempfile::TempDir;
use tower::ServiceExt;

/// Status and JSON body of `GET uri` against a fresh state over `dir` (no broker needed:
/// verification reads only the store and the tickets).
async fn get(dir: &TempDir, uri: &str) -> (StatusCode, Value) {
    let config = common::api_config("http://127.0.0.1:9", dir.path());
    let state = AppState::from_config(&config).await.expect("state");
    let request = Request::get(uri).body(Body::empty()).expect("request");
    let response = app(state).oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = common::body_bytes(response).await;
    (status, serde_json::from_slice(&bytes).expect("JSON body"))
}

#[tokio::test]
async fn a_clean_store_answers_200_with_the_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (status, body) = get(&dir, "/debug/verify").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["clean"], true);
    assert_eq!(body["violations"], Value::Array(Vec::new()));
    assert_eq!(body["counts"]["done_effects"], 0);
    assert_eq!(
        (body["stale_after_ms"].as_u64(), body.get("error")),
        (Some(60_000), None)
    );
}

#[tokio::test]
async fn a_violation_answers_409_with_the_same_report_shape() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A ticket nobody claimed: an effect the store knows nothing about.
    let tickets = dir.path().join("artifacts").join("tickets");
    std::fs::create_dir_all(&tickets).expect("tickets dir");
    let ticket = serde_json::json!({
        "created_ms": 1, "run_id": "r1", "step_id": "charge_card", "business_key": "order-1",
        "amount": 1.0, "effect_id": "r1:charge_card:order-1", "note": "planted by the test",
    });
    std::fs::write(tickets.join("ticket_order-1.json"), ticket.to_string()).expect("ticket");

    let (status, body) = get(&dir, "/debug/verify?stale_after_ms=0&settle_after_ms=0").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "invariant_violated");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(
        (body["clean"].as_bool(), body["violations_total"].as_u64()),
        (Some(false), Some(1))
    );
    let violation = &body["violations"][0];
    assert_eq!(violation["kind"], "ticket_without_row");
    assert_eq!(violation["effect_id"], "r1:charge_card:order-1");
    assert!(
        violation["message"]
            .as_str()
            .is_some_and(|m| m.contains("ticket_order-1.json"))
    );
    assert_eq!(body["counts"]["tickets"], 1);
}

#[tokio::test]
async fn bad_grace_periods_are_422_naming_the_parameter() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (query, field) in [
        ("stale_after_ms=-1", "stale_after_ms"),
        ("settle_after_ms=1.5", "settle_after_ms"),
        ("settle_after_ms=86400001", "settle_after_ms"),
        ("stale_after_ms=1&stale_after_ms=2", "query"),
    ] {
        let (status, body) = get(&dir, &format!("/debug/verify?{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(
            (body["error"].as_str(), body["field"].as_str()),
            (Some("invalid_request"), Some(field))
        );
    }
}

#[tokio::test]
async fn the_openapi_document_lists_both_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (status, doc) = get(&dir, "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let responses = &doc["paths"]["/debug/verify"]["get"]["responses"];
    for code in ["200", "409", "422", "500"] {
        assert!(responses[code].is_object(), "missing {code}: {responses}");
    }
    let schemas = &doc["components"]["schemas"];
    for name in [
        "VerifyResponse",
        "VerifyReport",
        "Violation",
        "ViolationKind",
    ] {
        assert!(schemas[name].is_object(), "missing schema {name}");
    }
}
