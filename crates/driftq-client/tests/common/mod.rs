//! Shared helpers for the integration tests: a real `driftq-local` broker on
//! port 0 with a temporary WAL, and deadline-bounded reads of a consumer.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use driftq_client::{Client, Consumer, Error, Message, ProduceRequest};
use driftq_local::{Broker, BrokerConfig};
use futures::StreamExt;
use tempfile::TempDir;

/// Upper bound for anything a test waits for; generous for a loaded CI box.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// A running broker, a client for it, and the directory holding its WAL.
pub struct TestBroker {
    pub broker: Broker,
    pub client: Client,
    pub dir: TempDir,
}

impl TestBroker {
    /// Starts an empty broker on 127.0.0.1:0.
    pub async fn start() -> TestBroker {
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = driftq_local::spawn(BrokerConfig::ephemeral(wal_path(&dir)))
            .await
            .expect("broker starts");
        let client = Client::new(&broker.base_url()).expect("valid base URL");
        TestBroker {
            broker,
            client,
            dir,
        }
    }

    /// The WAL file of this broker.
    pub fn wal(&self) -> PathBuf {
        wal_path(&self.dir)
    }
}

pub fn wal_path(dir: &TempDir) -> PathBuf {
    dir.path().join("driftq.wal")
}

/// The next message, skipping transient errors (the consumer reconnects by
/// itself); panics on a fatal error, an ended stream or after [`DEADLINE`].
pub async fn next_message(consumer: &mut Consumer) -> Message {
    let read = async {
        loop {
            match consumer.next().await {
                Some(Ok(msg)) => return msg,
                Some(Err(err)) if err.is_transient() => continue,
                Some(Err(err)) => panic!("consumer failed: {err}"),
                None => panic!("consumer ended"),
            }
        }
    };
    tokio::time::timeout(DEADLINE, read)
        .await
        .expect("a message before the deadline")
}

/// Produces, retrying transient failures (e.g. a pooled connection to a
/// broker that just restarted) until [`DEADLINE`].
pub async fn produce_retrying(client: &Client, req: &ProduceRequest) {
    let attempt = async {
        loop {
            match client.produce(req).await {
                Ok(()) => return,
                Err(Error::Backpressure { retry_after, .. }) => {
                    tokio::time::sleep(retry_after).await
                }
                Err(err) if err.is_transient() => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(err) => panic!("produce failed: {err}"),
            }
        }
    };
    tokio::time::timeout(DEADLINE, attempt)
        .await
        .expect("produce succeeds before the deadline");
}
