//! Lease expiry, redelivery round robin, and the header-withholding stream.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::start;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(3);

#[tokio::test]
async fn unacked_message_is_redelivered_after_the_lease() {
    let b = start().await;
    b.create("le", 1).await;
    b.produce("topic=le&value=slow").await;
    let mut c = b.consume("topic=le&group=g&owner=o&lease_ms=300");
    let items = c.take(3, WAIT).await;
    let seen: Vec<_> = items
        .iter()
        .map(|i| (i["attempts"].clone(), i["last_error"].clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (json!(1), json!("")),
            (json!(2), json!("ack_timeout")),
            (json!(3), json!("ack_timeout"))
        ]
    );
    let (status, _) = b
        .post("/v1/ack?topic=le&group=g&owner=o&partition=0&offset=0")
        .await;
    assert_eq!(status, 204);
    assert!(c.next(Duration::from_millis(700)).await.is_none());
    c.close();
}

#[tokio::test]
async fn expired_message_moves_to_the_next_stream() {
    let b = start().await;
    b.create("rr", 1).await;
    let mut a = b.consume("topic=rr&group=g&owner=A&lease_ms=400");
    // A registers first, so it is first in round-robin order.
    b.wait_open_streams("rr", "g", 1, WAIT).await;
    let mut bb = b.consume("topic=rr&group=g&owner=B&lease_ms=400");
    // Both streams must be registered before the produce.
    b.wait_open_streams("rr", "g", 2, WAIT).await;
    b.produce("topic=rr&value=only").await;
    assert_eq!(a.take(1, WAIT).await[0]["attempts"], 1);
    assert_eq!(bb.take(1, WAIT).await[0]["attempts"], 2);
    let (status, _) = b
        .post("/v1/ack?topic=rr&group=g&owner=A&partition=0&offset=0")
        .await;
    assert_eq!(status, 409, "A lost the message to B");
    a.close();
    bb.close();
}

/// Q16: nothing — not even the status line — is sent before the first item.
#[tokio::test]
async fn stream_headers_are_withheld_until_the_first_item() {
    let b = start().await;
    b.create("idle", 1).await;
    let addr = b.broker.local_addr();
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    sock.write_all(b"GET /v1/consume?topic=idle&group=g&owner=o HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let silent = matches!(sock.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        || e.kind() == std::io::ErrorKind::TimedOut);
    assert!(silent, "no bytes before the first item");
    b.produce("topic=idle&value=first").await;
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let n = sock.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("application/x-ndjson; charset=utf-8"));
}
