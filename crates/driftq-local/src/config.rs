//! Broker configuration: the command line of the `driftq-local` binary and the
//! value that [`crate::spawn`] takes.
//!
//! Every limit of the real `driftqd` is a compile-time constant there; here each
//! one is a flag whose default is the real broker's value, so that local runs
//! predict production unless a flag is changed on purpose.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Output format of the log lines written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human readable `key=value` lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Configuration of one broker process (also the binary's command line).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "driftq-local",
    version,
    about = "A single-process broker that speaks the DriftQ v1 HTTP API, with a durable log"
)]
pub struct BrokerConfig {
    /// Listen address, HOST:PORT. An empty host (":8080") means all interfaces; port 0 picks a free port.
    #[arg(long, default_value = ":8080")]
    pub addr: String,

    /// Path of the write-ahead log (created if missing).
    #[arg(long, default_value = "driftq.wal")]
    pub wal: PathBuf,

    /// Rename an existing WAL to `<wal>.bak.<unix-seconds>` before starting, i.e. start empty.
    #[arg(long)]
    pub reset_wal: bool,

    /// Log filter: error, warn, info, debug, trace (or a tracing filter directive).
    #[arg(long, default_value = "info")]
    pub log_level: String,

    /// Log line format on stderr.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub limits: Limits,
}

/// The broker's tunable limits; every default is the real broker's constant.
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Delivered-but-unacked messages allowed per (topic, group, partition).
    #[arg(long, default_value_t = 2)]
    pub inflight_per_partition: usize,

    /// Backpressure: messages buffered per partition above the slowest committed offset.
    #[arg(long, default_value_t = 100)]
    pub buffer_messages: usize,

    /// Backpressure: bytes (key + value) buffered per partition, including the new message.
    #[arg(long, default_value_t = 65536)]
    pub buffer_bytes: u64,

    /// Lease used when a consumer gives no lease_ms, or when the owner has no open stream.
    #[arg(long, default_value_t = 2000)]
    pub default_lease_ms: u64,

    /// Interval of the redelivery scan (lease expiry, backoff, DLQ).
    #[arg(long, default_value_t = 250)]
    pub redelivery_tick_ms: u64,

    /// Producer idempotency window, in seconds after a record's last update.
    #[arg(long, default_value_t = 600)]
    pub idempotency_ttl_secs: u64,

    /// Request read timeout: the request line and headers must arrive within it, then the body
    /// within it again; also closes keep-alive connections idle that long.
    #[arg(long, default_value_t = 5000)]
    pub read_timeout_ms: u64,

    /// Bytes one consume stream may have queued toward a client that is not reading;
    /// past it the stream is closed and its messages come back after their lease.
    /// Not a limit of the real broker, which buffers without bound.
    #[arg(long, default_value_t = DEFAULT_MAX_STREAM_BUFFER_BYTES)]
    pub max_stream_buffer_bytes: usize,
}

/// Default of `--max-stream-buffer-bytes`: far above what a reading consumer ever has
/// queued (the socket takes items as they come), small next to the memory a stalled one
/// would otherwise take.
pub const DEFAULT_MAX_STREAM_BUFFER_BYTES: usize = 8 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            inflight_per_partition: 2,
            buffer_messages: 100,
            buffer_bytes: 65536,
            default_lease_ms: 2000,
            redelivery_tick_ms: 250,
            idempotency_ttl_secs: 600,
            read_timeout_ms: 5000,
            max_stream_buffer_bytes: DEFAULT_MAX_STREAM_BUFFER_BYTES,
        }
    }
}

impl Limits {
    /// The default lease as a duration.
    pub fn default_lease(&self) -> Duration {
        Duration::from_millis(self.default_lease_ms)
    }

    /// The redelivery tick as a duration (at least 1 ms so the timer cannot spin).
    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.redelivery_tick_ms.max(1))
    }

    /// The request read timeout (at least 1 ms: hyper treats zero as "expired at once").
    pub fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.read_timeout_ms.max(1))
    }

    /// The producer idempotency TTL as a duration.
    pub fn idempotency_ttl(&self) -> Duration {
        Duration::from_secs(self.idempotency_ttl_secs)
    }
}

impl BrokerConfig {
    /// 127.0.0.1:0, the given WAL path, every other value the default.
    pub fn ephemeral(wal: impl Into<PathBuf>) -> Self {
        BrokerConfig {
            addr: "127.0.0.1:0".to_owned(),
            wal: wal.into(),
            reset_wal: false,
            log_level: "info".to_owned(),
            log_format: LogFormat::Text,
            limits: Limits::default(),
        }
    }

    /// Resolves `addr` the way Go's `net.Listen` reads it: an empty host means all interfaces.
    pub fn socket_addr(&self) -> std::io::Result<SocketAddr> {
        let addr = if self.addr.starts_with(':') {
            format!("0.0.0.0{}", self.addr)
        } else {
            self.addr.clone()
        };
        addr.to_socket_addrs()?.next().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "address resolves to nothing",
            )
        })
    }
}
