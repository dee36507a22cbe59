//! The consume stream: `GET /v1/consume` read as NDJSON, exposed as a
//! `futures::Stream` of messages that reconnects by itself.
//!
//! Three broker habits shape this code: it sends no status line until the
//! first item (so there must be no read timeout), it never ends a stream
//! except on shutdown (so an end of stream means "reconnect"), and it may
//! deliver items out of offset order (so nothing here assumes order).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream, Stream, StreamExt};
use reqwest::Url;
use serde::Serialize;

use crate::backoff::Backoff;
use crate::error::Error;
use crate::model::{AckTarget, Message};
use crate::ndjson::LineDecoder;

/// Longest piece of an undecodable line quoted in an [`Error::Decode`].
const MAX_QUOTED_LINE: usize = 200;

/// What to consume and as whom; pass it to [`crate::Client::consume`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumeRequest {
    /// Topic to read.
    pub topic: String,
    /// Consumer group: each group gets every message once (at least once).
    pub group: String,
    /// Owner name of this consumer; acks and nacks must use the same name.
    pub owner: String,
    /// Lease before an unacked message is redelivered; `None` = broker default (2 s).
    /// Keep it between 250 ms and 10 min: outside that range the broker never
    /// delivers messages that carry an idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
}

impl ConsumeRequest {
    /// A request with the broker's default lease.
    pub fn new(
        topic: impl Into<String>,
        group: impl Into<String>,
        owner: impl Into<String>,
    ) -> Self {
        ConsumeRequest {
            topic: topic.into(),
            group: group.into(),
            owner: owner.into(),
            lease_ms: None,
        }
    }

    /// Sets the lease (whole milliseconds).
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease_ms = Some(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// The ack/nack target for a message delivered to this consumer.
    pub fn ack_target(&self, msg: &Message) -> AckTarget {
        AckTarget {
            topic: self.topic.clone(),
            group: self.group.clone(),
            owner: self.owner.clone(),
            partition: msg.partition,
            offset: msg.offset,
        }
    }
}

/// A never-ending stream of delivered messages (see [`crate::Client::consume`]).
///
/// * Transient failures (connection refused or reset, 5xx) are yielded as
///   `Err` items and the consumer reconnects after a backoff of 100 ms
///   doubling to 2 s, reset after the next delivered item.
/// * When the broker ends the stream (it does so only when shutting down)
///   the consumer reconnects without yielding an error.
/// * A line that is not a valid item is yielded as [`Error::Decode`].
/// * A refusal (400, e.g. unknown topic) is yielded as `Err`, then the
///   stream ends.
pub struct Consumer {
    request: ConsumeRequest,
    inner: BoxStream<'static, Result<Message, Error>>,
}

impl Consumer {
    /// Starts consuming lazily: nothing is sent until the stream is polled.
    pub(crate) fn new(http: reqwest::Client, url: Url, request: ConsumeRequest) -> Self {
        let state = ConsumeLoop {
            http,
            url,
            request: request.clone(),
            body: None,
            lines: LineDecoder::default(),
            backoff: Backoff::default(),
            reconnect_delay: None,
            finished: false,
        };
        let inner = stream::unfold(state, |mut state| async move {
            let item = state.next_item().await?;
            Some((item, state))
        })
        // `fuse`: polling again after the end yields `None` instead of panicking.
        .fuse()
        .boxed();
        Consumer { request, inner }
    }

    /// The request this consumer was opened with, e.g. for
    /// [`ConsumeRequest::ack_target`].
    pub fn request(&self) -> &ConsumeRequest {
        &self.request
    }
}

impl Stream for Consumer {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

/// The state behind [`Consumer`]: one open response body at a time.
struct ConsumeLoop {
    http: reqwest::Client,
    url: Url,
    request: ConsumeRequest,
    body: Option<BoxStream<'static, reqwest::Result<Bytes>>>,
    lines: LineDecoder,
    backoff: Backoff,
    /// Set after a failure: wait this long before the next connect.
    reconnect_delay: Option<Duration>,
    /// Set after a non-transient refusal; the stream then ends.
    finished: bool,
}

impl ConsumeLoop {
    /// The next item for the stream; `None` ends it.
    async fn next_item(&mut self) -> Option<Result<Message, Error>> {
        while !self.finished {
            if let Some(line) = self.lines.next_line() {
                return Some(self.decode(&line));
            }
            let progress = if self.body.is_some() {
                self.read_chunk().await
            } else {
                self.connect().await
            };
            if let Err(err) = progress {
                return Some(Err(err));
            }
        }
        None
    }

    /// Opens the stream. `send` only returns once the broker writes the first
    /// item, which may take forever on an idle topic: that is why the client
    /// has no request timeout.
    async fn connect(&mut self) -> Result<(), Error> {
        if let Some(delay) = self.reconnect_delay.take() {
            tokio::time::sleep(delay).await;
        }
        let sent = self
            .http
            .get(self.url.clone())
            .query(&self.request)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(err) => return Err(self.transient(Error::Transport(err))),
        };
        if !response.status().is_success() {
            let err = Error::from_response(response).await;
            if err.is_transient() {
                return Err(self.transient(err));
            }
            tracing::debug!(topic = %self.request.topic, error = %err, "consume refused; ending stream");
            self.finished = true;
            return Err(err);
        }
        self.body = Some(response.bytes_stream().boxed());
        Ok(())
    }

    /// Feeds the next body chunk to the line decoder.
    async fn read_chunk(&mut self) -> Result<(), Error> {
        let Some(body) = self.body.as_mut() else {
            return Ok(());
        };
        match body.next().await {
            Some(Ok(chunk)) => {
                self.lines.push(&chunk);
                Ok(())
            }
            Some(Err(err)) => Err(self.transient(Error::Transport(err))),
            None => {
                // The broker only ends streams when it shuts down: come back later.
                self.close("broker ended the stream");
                Ok(())
            }
        }
    }

    /// Drops the connection and schedules a reconnect; returns `err` for yielding.
    fn transient(&mut self, err: Error) -> Error {
        self.close(&err.to_string());
        err
    }

    fn close(&mut self, why: &str) {
        self.body = None;
        // A partial line is an item cut by the disconnect; the broker redelivers
        // it after the lease expires, so it is safe to drop.
        let dropped = self.lines.reset();
        let delay = self.backoff.next_delay();
        self.reconnect_delay = Some(delay);
        tracing::debug!(topic = %self.request.topic, group = %self.request.group, why,
            dropped_bytes = dropped, ?delay, "consume stream closed; reconnecting");
    }

    /// Decodes one line; a delivered item proves the connection healthy.
    fn decode(&mut self, line: &[u8]) -> Result<Message, Error> {
        let item = decode_item(line);
        if item.is_ok() {
            self.backoff.reset();
        }
        item
    }
}

/// Parses one NDJSON line into a [`Message`]; a bad line becomes
/// [`Error::Decode`] quoting (the start of) the line, never a panic.
fn decode_item(line: &[u8]) -> Result<Message, Error> {
    serde_json::from_slice::<Message>(line).map_err(|err| {
        let text = String::from_utf8_lossy(line);
        let quoted: String = text.chars().take(MAX_QUOTED_LINE).collect();
        Error::Decode(format!("invalid consume item ({err}): {quoted}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_line_decodes() {
        let line =
            br#"{"partition":2,"offset":9,"attempts":1,"key":"k","value":"v","last_error":""}"#;
        let msg = decode_item(line).expect("valid item");
        assert_eq!((msg.partition, msg.offset, msg.value.as_str()), (2, 9, "v"));
    }

    #[test]
    fn invalid_lines_become_decode_errors() {
        let long = format!("{{\"value\":\"{}", "x".repeat(1_000));
        for line in [
            &b"not json"[..],
            b"{\"partition\":-1}",
            b"[1,2]",
            &[0xff, 0xfe],
            long.as_bytes(),
        ] {
            match decode_item(line) {
                Err(Error::Decode(text)) => assert!(text.len() < MAX_QUOTED_LINE + 200, "{text}"),
                other => panic!("expected a decode error, got {other:?}"),
            }
        }
    }

    #[test]
    fn lease_and_ack_target() {
        let request = ConsumeRequest::new("t", "g", "o").lease(Duration::from_millis(1_500));
        assert_eq!(request.lease_ms, Some(1_500));
        let msg = decode_item(br#"{"partition":1,"offset":4,"attempts":1}"#).expect("valid item");
        let target = request.ack_target(&msg);
        assert_eq!(
            (target.topic.as_str(), target.partition, target.offset),
            ("t", 1, 4)
        );
    }
}
