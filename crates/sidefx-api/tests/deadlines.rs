//! Deadlines against slow clients and the `Host` / origin safeguards, over real sockets: a
//! trickled head is cut off, a body that never completes gets 408 `request_timeout`, a
//! foreign `Host` gets 421, and `ALLOW_ORIGINS=*` needs confirming.

mod common;

use std::time::{Duration, Instant};

use clap::Parser;
use common::{ApiServer, DEADLINE, api_config};
use sidefx_api::{ApiConfig, AppState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// No broker is needed for these routes' failures; the store lives in `dir`.
fn config_with(dir: &std::path::Path, extra: &[&str]) -> ApiConfig {
    let base = api_config("http://127.0.0.1:9", dir);
    let mut args: Vec<std::ffi::OsString> = vec!["sidefx-api".into()];
    args.extend(["--db-path".into(), base.store.db_path.into_os_string()]);
    args.extend([
        "--artifacts-dir".into(),
        base.store.artifacts_dir.into_os_string(),
    ]);
    args.extend(["--driftq-http-url".into(), "http://127.0.0.1:9".into()]);
    args.extend(extra.iter().map(Into::into));
    ApiConfig::try_parse_from(args).expect("valid config")
}

/// Sends `bytes` and reads whatever comes back until the server closes the connection.
async fn exchange(api: &ApiServer, bytes: &[u8]) -> (String, Duration) {
    let start = Instant::now();
    let mut tcp = TcpStream::connect(api.base_url.trim_start_matches("http://"))
        .await
        .unwrap();
    tcp.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(DEADLINE, tcp.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    (String::from_utf8_lossy(&out).into_owned(), start.elapsed())
}

#[tokio::test]
async fn a_trickled_head_is_cut_off_at_the_header_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let api = ApiServer::start(&config_with(dir.path(), &["--header-timeout-ms", "300"])).await;
    let (answer, took) = exchange(&api, b"GET /healthz HTTP/1.1\r\nHo").await;
    assert!(took < Duration::from_secs(3), "held {took:?}");
    assert!(!answer.contains(" 200 "), "{answer}");
    api.stop().await;
}

#[tokio::test]
async fn a_body_that_never_completes_gets_408() {
    let dir = tempfile::tempdir().unwrap();
    let api = ApiServer::start(&config_with(dir.path(), &["--body-timeout-ms", "300"])).await;
    let claims_more = b"POST /runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
        Content-Length: 10000\r\n\r\n{\"business_key\":\"k\"";
    let chunked_forever = b"POST /runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
        Transfer-Encoding: chunked\r\n\r\n5\r\n{\"bus\r\n";
    for request in [&claims_more[..], &chunked_forever[..]] {
        let (answer, took) = exchange(&api, request).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains(r#""error":"request_timeout""#), "{answer}");
        assert!(took < Duration::from_secs(3), "held {took:?}");
    }
    // A body claiming 10 MB is refused without waiting for it.
    let huge = b"POST /runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
        Content-Length: 10000000\r\n\r\n{\"business_key\":\"k\"}";
    let (answer, took) = exchange(&api, huge).await;
    assert!(
        answer.starts_with("HTTP/1.1 413") || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(took < Duration::from_secs(3), "held {took:?}");
    api.stop().await;
}

#[tokio::test]
async fn a_foreign_host_gets_421_when_hosts_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(dir.path(), &["--allowed-hosts", "localhost,127.0.0.1"]);
    let api = ApiServer::start(&config).await;
    let http = reqwest::Client::new();
    let url = api.url("/openapi.json");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    let resp = http
        .get(&url)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 421);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "misdirected_request");
    api.stop().await;
}

#[tokio::test]
async fn any_origin_must_be_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let refused = AppState::from_config(&config_with(dir.path(), &["--allow-origins", "*"])).await;
    assert!(matches!(
        refused,
        Err(sidefx_api::ApiStartError::AnyOriginUnconfirmed)
    ));
    let confirmed = config_with(dir.path(), &["--allow-origins", "*", "--allow-any-origin"]);
    assert!(AppState::from_config(&confirmed).await.is_ok());
}

#[test]
fn the_default_address_is_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(dir.path(), &[]);
    assert!(config.api_addr.ip().is_loopback(), "{}", config.api_addr);
}
