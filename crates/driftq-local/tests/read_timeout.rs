//! §1.1: the request line and headers must arrive within the read timeout
//! (the real broker's 5 s, a flag here), and the body gets the same budget.

mod common;

use std::time::{Duration, Instant};

use driftq_local::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT_MS: u64 = 300;

#[test]
fn the_default_is_the_real_brokers() {
    assert_eq!(Limits::default().read_timeout_ms, 5000);
}

/// Reads until EOF or error; returns what arrived, or None if the deadline passed first.
async fn read_to_close(tcp: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read).await.ok().map(|()| out)
}

#[tokio::test]
async fn half_a_request_line_is_disconnected() {
    let b = common::start_with(|c| c.limits.read_timeout_ms = TIMEOUT_MS).await;
    let mut tcp = TcpStream::connect(b.broker.local_addr()).await.unwrap();
    let started = Instant::now();
    tcp.write_all(b"GET /v1/heal").await.unwrap();
    let closed = read_to_close(&mut tcp, Duration::from_secs(5)).await;
    let elapsed = started.elapsed();
    assert!(closed.is_some(), "connection still open after 5 s");
    assert!(
        elapsed >= Duration::from_millis(TIMEOUT_MS - 50),
        "closed too early: {elapsed:?}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let b = common::start_with(|c| c.limits.read_timeout_ms = TIMEOUT_MS).await;
    let mut tcp = TcpStream::connect(b.broker.local_addr()).await.unwrap();
    tcp.write_all(b"GET /v1/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut tcp, Duration::from_secs(5)).await;
    let text = String::from_utf8(answer.expect("closed after idling")).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
}

#[tokio::test]
async fn a_slow_body_is_answered_with_an_io_timeout() {
    let b = common::start_with(|c| c.limits.read_timeout_ms = TIMEOUT_MS).await;
    let mut tcp = TcpStream::connect(b.broker.local_addr()).await.unwrap();
    let head = "POST /v1/produce HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{\"topic\"";
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("answer within the deadline")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("invalid json body: i/o timeout"), "{text}");
}

#[tokio::test]
async fn a_complete_request_is_served_normally() {
    let b = common::start_with(|c| c.limits.read_timeout_ms = TIMEOUT_MS).await;
    let (status, body) = b.get("/v1/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
}
