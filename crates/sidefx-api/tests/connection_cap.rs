//! The connection cap (`--max-connections`): beyond it the API stops accepting, so a client
//! that opens a connection per request cannot make it hold thousands; a waiting connection is
//! served as soon as an open one closes, and an idle one is closed after the idle timeout so
//! idle keep-alive connections cannot hold every slot.

mod common;

use std::time::Duration;

use clap::Parser;
use common::{ApiServer, DEADLINE, api_config};
use sidefx_api::ApiConfig;
use sidefx_api::conn_limit::LimitedListener;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// The API's config with `--max-connections 1` (no broker is needed for `/openapi.json`).
fn one_connection(dir: &std::path::Path) -> ApiConfig {
    let base = api_config("http://127.0.0.1:9", dir);
    let mut args: Vec<std::ffi::OsString> = vec![
        "sidefx-api".into(),
        "--driftq-http-url".into(),
        "http://127.0.0.1:9".into(),
        "--max-connections".into(),
        "1".into(),
    ];
    args.extend(["--db-path".into(), base.store.db_path.into_os_string()]);
    args.extend([
        "--artifacts-dir".into(),
        base.store.artifacts_dir.into_os_string(),
    ]);
    ApiConfig::try_parse_from(args).expect("valid config")
}

/// A client that closes each connection after its response, so it holds no slot.
fn no_keep_alive() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// Opens an idle connection and makes sure it holds the only slot: a request made after it
/// must be held back. Returns the idle connection and the held-back request.
async fn hold_the_slot(
    base_url: &str,
    url: &str,
) -> (
    TcpStream,
    tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
) {
    let addr = base_url.trim_start_matches("http://").to_owned();
    let start = tokio::time::Instant::now();
    loop {
        assert!(
            start.elapsed() < DEADLINE,
            "the cap never held a request back"
        );
        let idle = TcpStream::connect(&addr).await.expect("connect");
        let mut request = tokio::spawn(no_keep_alive().get(url).send());
        // The idle connection is accepted first almost always; if the request was served
        // anyway (it got the slot), try again.
        match tokio::time::timeout(Duration::from_millis(300), &mut request).await {
            Ok(answered) => assert_eq!(answered.expect("task").expect("GET").status(), 200),
            Err(_) => return (idle, request),
        }
    }
}

#[tokio::test]
async fn a_connection_beyond_the_cap_waits_until_one_closes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let api = ApiServer::start(&one_connection(dir.path())).await;
    let url = api.url("/openapi.json");
    let served = no_keep_alive().get(&url).send().await.expect("GET");
    assert_eq!(served.status(), 200, "the only slot is free");
    // Reading the body to its end lets the client close the connection and free the slot.
    served.bytes().await.expect("body");

    let (idle, waiting) = hold_the_slot(&api.base_url, &url).await;
    drop(idle);
    let answered = tokio::time::timeout(DEADLINE, waiting)
        .await
        .expect("served once the slot freed")
        .expect("task")
        .expect("GET");
    assert_eq!(answered.status(), 200);
    api.stop().await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_and_frees_its_slot() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("addr"));
    let limited = LimitedListener::with_idle_timeout(listener, 1, Duration::from_millis(300));
    let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let server = tokio::spawn(async move { axum::serve(limited, router).await });

    let url = format!("{base_url}/");
    let (mut idle, waiting) = hold_the_slot(&base_url, &url).await;
    // The idle connection is closed by the server (end of stream), and the held-back
    // request is served on the freed slot.
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(DEADLINE, idle.read(&mut byte))
        .await
        .expect("closed within the deadline");
    assert_eq!(read.expect("read"), 0, "end of stream");
    let answered = tokio::time::timeout(DEADLINE, waiting)
        .await
        .expect("served once the idle connection closed")
        .expect("task")
        .expect("GET");
    assert_eq!(answered.text().await.expect("body"), "ok");
    server.abort();
}
