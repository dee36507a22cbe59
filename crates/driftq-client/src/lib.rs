//! A typed async client for the DriftQ v1 HTTP API.
//!
//! [`Client`] wraps one keep-alive connection pool and has one method per
//! endpoint; broker refusals come back as a typed [`Error`]. Consuming
//! returns a [`Consumer`], a `futures::Stream` of [`Message`]s that survives
//! broker restarts by reconnecting on its own.
//!
//! ```no_run
//! use driftq_client::{Client, ConsumeRequest, Error, ProduceRequest};
//! use futures::StreamExt;
//!
//! # async fn run() -> Result<(), Error> {
//! let client = Client::new("http://localhost:8080")?;
//! client.create_topic("orders", 4).await?;
//! client
//!     .produce(&ProduceRequest::new("orders", r#"{"id":42}"#).key("customer-7").idempotency_key("order-42"))
//!     .await?;
//!
//! let mut orders = client.consume(ConsumeRequest::new("orders", "billing", "worker-1"));
//! while let Some(item) = orders.next().await {
//!     let msg = match item {
//!         Ok(msg) => msg,
//!         // Transient: the consumer is already reconnecting.
//!         Err(err) if err.is_transient() => continue,
//!         Err(err) => return Err(err),
//!     };
//!     // ... handle msg.value, then ack; a lost ack response means "already done".
//!     match client.ack(&orders.request().ack_target(&msg)).await {
//!         Err(err) if !err.is_not_in_flight() => return Err(err),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Delivery is at least once and not ordered: handle redeliveries (same
//! partition and offset, higher `attempts`) idempotently.

mod backoff;
mod client;
mod consume;
mod error;
mod model;
mod ndjson;
mod produce;

pub use client::Client;
pub use consume::{ConsumeRequest, Consumer};
pub use error::Error;
pub use model::{AckTarget, Envelope, Health, Message, RetryPolicy, Routing, VersionInfo};
pub use produce::ProduceRequest;
