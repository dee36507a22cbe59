//! Hostile clients: slow senders and many event streams must not lock the API out.
//!
//! Everything runs on loopback; extra client addresses (127.0.0.2, …) stand for distinct
//! clients, so the per-client stream bound does not hide the global one.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::{ApiServer, DEADLINE, api_config, spawn_broker};
use sidefx_testkit::poll_until;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// How fast `/healthz` and `POST /runs` must answer under attack.
const PROMPT: Duration = Duration::from_secs(1);

fn addr_of(api: &ApiServer) -> SocketAddr {
    api.base_url
        .trim_start_matches("http://")
        .parse()
        .expect("addr")
}

/// Connects from `from` (any 127.x.y.z works on Linux loopback).
async fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(from, 0))
        .expect("bind client address");
    socket.connect(to).await.expect("connect")
}

/// A connection that sends a few bytes of a request head and then nothing.
async fn slow_header(to: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(to).await.expect("connect");
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHo")
        .await
        .expect("send");
    tcp
}

/// Opens an event stream; returns the connection and its status line and headers.
async fn open_stream(
    from: IpAddr,
    to: SocketAddr,
    run_id: &str,
    client: usize,
) -> (TcpStream, String) {
    let mut tcp = connect_from(from, to).await;
    let request =
        format!("GET /runs/{run_id}/events?client_id=c{client} HTTP/1.1\r\nHost: {to}\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("send");
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(DEADLINE, tcp.read(&mut buf))
            .await
            .expect("head in time")
            .expect("read");
        assert!(n > 0, "closed before the response head");
        head.extend_from_slice(&buf[..n]);
    }
    (tcp, String::from_utf8_lossy(&head).into_owned())
}

/// One request on a fresh connection, timed.
async fn timed(request: reqwest::RequestBuilder) -> (u16, Duration) {
    let start = Instant::now();
    let response = tokio::time::timeout(DEADLINE, request.send())
        .await
        .expect("answered")
        .expect("sent");
    (response.status().as_u16(), start.elapsed())
}

async fn create_run(http: &reqwest::Client, api: &ApiServer, key: &str) -> String {
    let response = http
        .post(api.url("/runs"))
        .json(&serde_json::json!({"business_key": key}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    body["run_id"].as_str().expect("run_id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_many_streams_do_not_lock_out_requests() {
    let dir = tempfile::tempdir().unwrap();
    let broker = spawn_broker(dir.path()).await;
    let api = ApiServer::start(&api_config(&broker.base_url(), dir.path())).await;
    let to = addr_of(&api);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let run_id = create_run(&http, &api, "watched").await;

    let slow = futures::future::join_all((0..300).map(|_| slow_header(to))).await;
    // 300 streams from 20 client addresses, 15 each (under the per-client bound of 16).
    let streams = futures::future::join_all((0..300).map(|i| {
        let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i / 15) as u8));
        open_stream(from, to, &run_id, i)
    }))
    .await;
    let admitted = streams
        .iter()
        .filter(|(_, head)| head.starts_with("HTTP/1.1 200"))
        .count();
    let refused: Vec<&String> = streams
        .iter()
        .map(|(_, h)| h)
        .filter(|h| h.starts_with("HTTP/1.1 503"))
        .collect();
    assert_eq!(admitted, 128, "API_MAX_STREAMS streams are admitted");
    assert_eq!(refused.len(), 300 - 128);
    assert!(
        refused
            .iter()
            .all(|h| h.to_ascii_lowercase().contains("retry-after:")),
        "{}",
        refused[0]
    );

    // With all of that open, requests still get through promptly.
    let mut slowest = Duration::ZERO;
    for i in 0..5 {
        let (status, took) = timed(http.get(api.url("/healthz"))).await;
        assert_eq!(status, 200);
        slowest = slowest.max(took);
        let body = serde_json::json!({"business_key": format!("under-attack-{i}")});
        let (status, took) = timed(http.post(api.url("/runs")).json(&body)).await;
        assert_eq!(status, 200);
        slowest = slowest.max(took);
    }
    assert!(slowest < PROMPT, "slowest answer took {slowest:?}");
    record_figure(slowest);
    drop((slow, streams));
    api.stop().await;
    broker.shutdown().await;
}

#[expect(
    clippy::print_stderr,
    reason = "the measured figure goes to the test output"
)]
fn record_figure(slowest: Duration) {
    eprintln!("slowest /healthz or POST /runs under 300 slow + 300 streams: {slowest:?}");
}

#[tokio::test]
async fn one_client_may_hold_only_its_share_of_streams() {
    let dir = tempfile::tempdir().unwrap();
    let broker = spawn_broker(dir.path()).await;
    let api = ApiServer::start(&api_config(&broker.base_url(), dir.path())).await;
    let http = reqwest::Client::new();
    let run_id = create_run(&http, &api, "tabs").await;
    let me = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut open = Vec::new();
    for i in 0..16 {
        let (tcp, head) = open_stream(me, addr_of(&api), &run_id, i).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        open.push(tcp);
    }
    let (_tcp, head) = open_stream(me, addr_of(&api), &run_id, 16).await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    let resp = http
        .get(api.url(&format!("/runs/{run_id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "too_many_streams");
    // A closed stream frees its place.
    drop(open.pop());
    let _reopened = poll_until("a stream to open in the freed place", DEADLINE, || async {
        let (tcp, head) = open_stream(me, addr_of(&api), &run_id, 99).await;
        head.starts_with("HTTP/1.1 200").then_some(tcp)
    })
    .await;
    drop(open);
    api.stop().await;
    broker.shutdown().await;
}
