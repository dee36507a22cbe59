//! `Client`: one keep-alive HTTP connection pool and one method per DriftQ
//! endpoint. Every request with parameters sends them as a JSON body.

use std::time::Duration;

use reqwest::{RequestBuilder, Response, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::consume::{ConsumeRequest, Consumer};
use crate::error::Error;
use crate::model::{AckTarget, Health, VersionInfo};
use crate::produce::ProduceRequest;

/// Time limit for every request except consume streams.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Failing fast on an unreachable broker keeps consumer reconnects snappy.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle keep-alive connections kept per host: enough for a busy worker's
/// concurrent acks and produces without reconnecting.
const POOL_MAX_IDLE_PER_HOST: usize = 64;
/// Drop idle pooled connections before the broker does: Go's server closes
/// idle keep-alive connections after its 5 s read timeout, and reusing one it
/// is closing fails the request.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// TCP keepalive detects a dead broker host under a silent consume stream,
/// which has no read timeout.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

/// A DriftQ v1 HTTP client. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
}

impl Client {
    /// A client for the broker at `base_url` (e.g. `http://localhost:8080`),
    /// with keep-alive pooling, a 5 s connect timeout and a 30 s timeout on
    /// every request except consume streams.
    ///
    /// Fails with [`Error::InvalidArgument`] if the URL is not an absolute
    /// `http` URL with a host.
    pub fn new(base_url: &str) -> Result<Client, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tcp_keepalive(TCP_KEEPALIVE)
            .tcp_nodelay(true)
            .build()?;
        Client::with_http(base_url, http)
    }

    /// Like [`Client::new`] with a caller-configured `reqwest::Client`.
    ///
    /// Do not give it a total or read timeout: the broker sends nothing on a
    /// consume stream until a message arrives, so such a timeout would cut
    /// idle streams. Unary requests get a 30 s timeout anyway.
    pub fn with_http(base_url: &str, http: reqwest::Client) -> Result<Client, Error> {
        Ok(Client {
            http,
            base: parse_base_url(base_url)?,
        })
    }

    /// The base URL requests are sent to (always ends with `/`).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `GET /v1/healthz`.
    pub async fn healthz(&self) -> Result<Health, Error> {
        self.get_json("v1/healthz").await
    }

    /// `GET /v1/version`.
    pub async fn version(&self) -> Result<VersionInfo, Error> {
        self.get_json("v1/version").await
    }

    /// `GET /v1/topics`: topic names, sorted (including `dlq.*` topics).
    pub async fn list_topics(&self) -> Result<Vec<String>, Error> {
        let list: TopicList = self.get_json("v1/topics").await?;
        Ok(list.topics)
    }

    /// `POST /v1/topics`. Creating an existing topic succeeds and keeps its
    /// original partition count (the broker does not report a mismatch).
    pub async fn create_topic(&self, name: &str, partitions: u32) -> Result<(), Error> {
        let body = CreateTopic { name, partitions };
        self.post_json("v1/topics", &body).await
    }

    /// `POST /v1/produce` with a JSON body. A [`Error::Backpressure`] means
    /// "try again after `retry_after`"; an idempotent produce (see
    /// [`ProduceRequest::idempotency_key`]) is safe to retry on any transient error.
    pub async fn produce(&self, req: &ProduceRequest) -> Result<(), Error> {
        self.post_json("v1/produce", req).await
    }

    /// Opens a consume stream (lazily, on first poll). See [`Consumer`] for
    /// reconnect and error behaviour.
    pub fn consume(&self, req: ConsumeRequest) -> Consumer {
        Consumer::new(self.http.clone(), self.endpoint("v1/consume"), req)
    }

    /// `POST /v1/ack`: the message is done. [`Error::is_not_in_flight`] means
    /// it was already acked (acks are not idempotent); [`Error::NotOwner`]
    /// means it was redelivered to someone else.
    pub async fn ack(&self, target: &AckTarget) -> Result<(), Error> {
        self.post_json("v1/ack", target).await
    }

    /// `POST /v1/nack`: redeliver now (or dead-letter once the retry policy's
    /// attempts are used up). `reason` is appended to the message's `last_error`.
    pub async fn nack(&self, target: &AckTarget, reason: Option<&str>) -> Result<(), Error> {
        let body = Nack { target, reason };
        self.post_json("v1/nack", &body).await
    }

    fn endpoint(&self, path: &str) -> Url {
        // `parse_base_url` guarantees a base that `join` extends rather than replaces.
        self.base
            .join(path)
            .expect("relative endpoint path joins any http base URL")
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let response = self.send(self.http.get(self.endpoint(path))).await?;
        let body = response.bytes().await?;
        serde_json::from_slice(&body).map_err(|err| Error::Decode(format!("GET /{path}: {err}")))
    }

    async fn post_json<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> Result<(), Error> {
        self.send(self.http.post(self.endpoint(path)).json(body))
            .await
            .map(drop)
    }

    /// Sends a unary request; any non-2xx answer becomes an [`Error`].
    async fn send(&self, request: RequestBuilder) -> Result<Response, Error> {
        let response = request.timeout(REQUEST_TIMEOUT).send().await?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(Error::from_response(response).await)
        }
    }
}

/// Checks the base URL and gives it a trailing `/`, so endpoints join below
/// any path prefix (`http://proxy/driftq` + `v1/ack` = `http://proxy/driftq/v1/ack`).
fn parse_base_url(base_url: &str) -> Result<Url, Error> {
    let invalid = |why: String| Error::InvalidArgument {
        message: format!("invalid DriftQ base URL {base_url:?}: {why}"),
    };
    let mut url = Url::parse(base_url.trim()).map_err(|err| invalid(err.to_string()))?;
    // DriftQ v1 speaks plain HTTP/1.1 and this crate is built without a TLS stack, so an
    // https URL is refused here rather than failing on the first request.
    if url.scheme() != "http" {
        return Err(invalid(format!(
            "scheme must be http, not {:?}",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("missing host".to_owned()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment".to_owned()));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Answer of `GET /v1/topics`.
#[derive(Deserialize)]
struct TopicList {
    topics: Vec<String>,
}

/// Body of `POST /v1/topics`.
#[derive(Serialize)]
struct CreateTopic<'a> {
    name: &'a str,
    partitions: u32,
}

/// Body of `POST /v1/nack`: the ack target plus an optional reason.
#[derive(Serialize)]
struct Nack<'a> {
    #[serde(flatten)]
    target: &'a AckTarget,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_gets_a_trailing_slash() {
        let client = Client::new("http://127.0.0.1:8080").expect("valid");
        assert_eq!(
            client.endpoint("v1/ack").as_str(),
            "http://127.0.0.1:8080/v1/ack"
        );
        let client = Client::new(" http://proxy.local/driftq ").expect("valid");
        assert_eq!(
            client.endpoint("v1/ack").as_str(),
            "http://proxy.local/driftq/v1/ack"
        );
    }

    #[test]
    fn bad_base_urls_are_rejected_with_a_clear_message() {
        for bad in [
            "",
            "localhost:8080",
            "ftp://host/",
            "http://host/?x=1",
            "not a url",
        ] {
            let err = Client::new(bad).expect_err(bad);
            assert!(
                matches!(&err, Error::InvalidArgument { message } if message.contains("invalid DriftQ base URL")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn nack_body_flattens_the_target() {
        let target = AckTarget {
            topic: "t".into(),
            group: "g".into(),
            owner: "o".into(),
            partition: 1,
            offset: 7,
        };
        let with_reason = serde_json::to_string(&Nack {
            target: &target,
            reason: Some("boom"),
        })
        .expect("json");
        assert_eq!(
            with_reason,
            r#"{"topic":"t","group":"g","owner":"o","partition":1,"offset":7,"reason":"boom"}"#
        );
        let without = serde_json::to_string(&Nack {
            target: &target,
            reason: None,
        })
        .expect("json");
        assert!(!without.contains("reason"));
    }
}
