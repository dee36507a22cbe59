//! Router tests with `oneshot`: validation, error mapping and the OpenAPI document. No broker
//! runs here (the URL points at a closed port): every request below is answered before the
//! API would talk to DriftQ, except `/healthz`, which must then say 503.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use serde_json::{Value, json};
use sidefx_api::{AppState, app};
use tempfile::TempDir;
use tower::ServiceExt;

/// A router over a fresh store whose broker does not exist.
async fn router() -> (Router, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::api_config("http://127.0.0.1:9", dir.path());
    let state = AppState::from_config(&config).await.expect("state");
    (app(state), dir)
}

/// Sends one request; returns status, headers and the body as JSON (`Null` if not JSON).
async fn send(request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let (router, _dir) = router().await;
    let response = router.oneshot(request).await.expect("infallible");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = common::body_bytes(response).await;
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, json)
}

fn post_runs(body: impl Into<Body>) -> Request<Body> {
    Request::post("/runs")
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .expect("request")
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

#[tokio::test]
async fn each_invalid_field_is_a_422_naming_it() {
    let cases = [
        (json!({}), "business_key"),
        (json!({"business_key": "a/b"}), "business_key"),
        (json!({"business_key": ".hidden"}), "business_key"),
        (json!({"business_key": "x".repeat(129)}), "business_key"),
        (json!({"business_key": "k", "amount": -0.01}), "amount"),
        (json!({"business_key": "k", "amount": "12"}), "amount"),
        (
            json!({"business_key": "k", "max_attempts": 0}),
            "max_attempts",
        ),
        (
            json!({"business_key": "k", "max_attempts": 21}),
            "max_attempts",
        ),
        (
            json!({"business_key": "k", "fail_mode": "explode"}),
            "fail_mode",
        ),
        (
            json!({"business_key": "k", "fail_before_effect_n": -1}),
            "fail_before_effect_n",
        ),
        (
            json!({"business_key": "k", "fail_before_effect_n": 1000}),
            "fail_before_effect_n",
        ),
        (json!(["not", "an", "object"]), "body"),
    ];
    for (body, field) in cases {
        let (status, _, json) = send(post_runs(body.to_string())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(json["error"], "invalid_request", "{body}");
        assert_eq!(json["field"], field, "{body}");
        assert!(
            json["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(field)),
            "{json}"
        );
    }
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    for body in ["{", "{\"business_key\": }", "", "{} {}"] {
        let (status, _, json) = send(post_runs(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(json["error"], "malformed_json", "{body:?}");
    }
}

#[tokio::test]
async fn wrong_or_missing_content_type_is_a_422() {
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut request = Request::post("/runs");
        if let Some(value) = content_type {
            request = request.header(header::CONTENT_TYPE, value);
        }
        let body = Body::from(json!({"business_key": "k"}).to_string());
        let (status, _, json) = send(request.body(body).expect("request")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{content_type:?}");
        assert_eq!(json["field"], "content-type");
    }
}

#[tokio::test]
async fn bad_idempotency_keys_are_a_422() {
    let long = "k".repeat(256);
    for key in ["", "with space", long.as_str()] {
        let mut request = post_runs(json!({"business_key": "k"}).to_string());
        request
            .headers_mut()
            .insert("idempotency-key", key.parse().expect("header"));
        let (status, _, json) = send(request).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{key:?}");
        assert_eq!(json["field"], "Idempotency-Key");
    }
}

#[tokio::test]
async fn oversized_body_is_a_413_json_error() {
    let padding = "x".repeat(sidefx_api::MAX_BODY_BYTES + 1);
    let body = json!({"business_key": "k", "padding": padding}).to_string();
    let (status, _, json) = send(post_runs(body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json["error"], "payload_too_large");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_errors() {
    let (status, _, json) = send(get("/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json["error"], "not_found");

    let request = Request::delete("/runs")
        .body(Body::empty())
        .expect("request");
    let (status, _, json) = send(request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json["error"], "method_not_allowed");

    let request = Request::delete("/healthz")
        .body(Body::empty())
        .expect("request");
    let (status, _, json) = send(request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json["error"], "method_not_allowed");
}

#[tokio::test]
async fn unknown_and_malformed_run_ids_are_404() {
    for uri in [
        "/runs/0123456789abcdef0123456789abcdef",
        "/runs/not.a.run",
        "/runs/%FF%FE",
        "/runs/0123456789abcdef0123456789abcdef/events",
        "/runs/bad%20id/events",
    ] {
        let (status, _, json) = send(get(uri)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(json["error"], "run_not_found", "{uri}");
    }
}

#[tokio::test]
async fn debug_limits_are_validated() {
    for uri in [
        "/debug/side-effects?limit=0",
        "/debug/side-effects?limit=1001",
        "/debug/side-effects?limit=x",
        "/debug/workers?limit=0",
        "/debug/workers?limit=1001",
        "/debug/workers?limit=-3",
    ] {
        let (status, _, json) = send(get(uri)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}");
        assert_eq!(json["field"], "limit", "{uri}");
    }
    let (status, _, json) = send(get("/debug/side-effects?limit=1000")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json, json!({"count": 0, "items": []}));
    let (status, _, json) = send(get("/debug/workers?limit=1000")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json, json!({"workers": []}));
}

#[tokio::test]
async fn artifacts_lists_an_empty_tickets_dir() {
    let (status, _, json) = send(get("/debug/artifacts")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["count"], 0);
    assert!(
        json["tickets_dir"]
            .as_str()
            .is_some_and(|d| d.ends_with("tickets")),
        "{json}"
    );
}

#[tokio::test]
async fn healthz_is_503_when_the_broker_is_unreachable() {
    let (status, _, json) = send(get("/healthz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json["error"], "broker_unavailable");
    assert!(
        !json["message"]
            .as_str()
            .unwrap_or_default()
            .contains("127.0.0.1"),
        "{json}"
    );
}

#[tokio::test]
async fn responses_carry_a_request_id_and_cors_headers() {
    let request = Request::get("/debug/artifacts")
        .header(header::ORIGIN, "http://localhost:3000")
        .body(Body::empty())
        .expect("request");
    let (_, headers, _) = send(request).await;
    assert!(headers.contains_key("x-request-id"));
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://localhost:3000"
    );

    let request = Request::get("/debug/artifacts")
        .header(header::ORIGIN, "http://evil.test")
        .body(Body::empty())
        .expect("request");
    let (_, headers, _) = send(request).await;
    assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

#[tokio::test]
async fn openapi_lists_every_route_with_error_responses() {
    let (status, _, doc) = send(get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    let routes = [
        ("/runs", "post"),
        ("/runs/{run_id}", "get"),
        ("/runs/{run_id}/events", "get"),
        ("/healthz", "get"),
        ("/debug/side-effects", "get"),
        ("/debug/artifacts", "get"),
        ("/debug/dlq", "get"),
        ("/debug/workers", "get"),
    ];
    for (path, method) in routes {
        let responses = doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} missing"));
        let errors: Vec<_> = responses
            .keys()
            .filter(|code| !code.starts_with('2'))
            .collect();
        assert!(
            !errors.is_empty(),
            "{method} {path} documents no error response"
        );
        for code in errors {
            let schema = &responses[code]["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(
                schema, "#/components/schemas/ErrorBody",
                "{method} {path} {code}"
            );
        }
    }
    assert!(doc["paths"]["/runs"]["post"]["requestBody"].is_object());
    for schema in [
        "ErrorBody",
        "CreateRunBody",
        "CreateRunResponse",
        "RunView",
        "DlqRecord",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
}

#[tokio::test]
async fn an_unknown_field_is_a_422_naming_it() {
    let (status, _, body) = send(post_runs(r#"{"business_key":"k","amout":3}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["field"], "amout");
    assert!(
        body["message"].as_str().unwrap().contains("unknown field"),
        "{body}"
    );
}

#[tokio::test]
async fn openapi_gives_each_run_error_its_own_example() {
    let (_, _, doc) = send(get("/openapi.json")).await;
    let responses = &doc["paths"]["/runs"]["post"]["responses"];
    let example = |code: &str| responses[code]["content"]["application/json"]["example"].clone();
    let codes = [
        ("400", "malformed_json"),
        ("413", "payload_too_large"),
        ("422", "invalid_request"),
    ];
    for (code, error) in codes {
        assert_eq!(example(code)["error"], error, "{code}: {}", responses[code]);
    }
}

#[tokio::test]
async fn openapi_names_every_event_variant() {
    let (_, _, doc) = send(get("/openapi.json")).await;
    let variants = doc["components"]["schemas"]["Event"]["oneOf"]
        .as_array()
        .expect("Event is a oneOf");
    let titles: Vec<&str> = variants
        .iter()
        .map(|v| {
            v["title"]
                .as_str()
                .unwrap_or_else(|| panic!("untitled variant {v}"))
        })
        .collect();
    for expected in [
        "run.created",
        "chaos.crash_now",
        "side_effect.done",
        "run.dlq",
    ] {
        assert!(
            titles.contains(&expected),
            "{expected} missing from {titles:?}"
        );
    }
}

#[tokio::test]
async fn swagger_ui_loads_no_validator_badge_from_the_internet() {
    let (router, _dir) = router().await;
    let request = get("/docs/swagger-initializer.js");
    let response = router.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let script = String::from_utf8_lossy(&common::body_bytes(response).await).into_owned();
    assert!(
        script.contains(r#""validatorUrl": "none""#) || script.contains(r#""validatorUrl":"none""#),
        "{script}"
    );
}

#[tokio::test]
async fn swagger_ui_is_served_offline() {
    let (router, _dir) = router().await;
    let response = router.oneshot(get("/docs/")).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = common::body_bytes(response).await;
    assert!(
        String::from_utf8_lossy(&bytes).contains("swagger"),
        "not the Swagger UI page"
    );
}
