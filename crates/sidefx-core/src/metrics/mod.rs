//! Prometheus metrics: every metric name of the project, and (feature `prometheus`) the one
//! recorder per process whose rendered text the API (`GET /metrics`) and the worker serve.
//!
//! Code records through the `metrics` macros with the constants below (`counter!(RUNS_ACCEPTED)`),
//! so a name is spelled once. Without an installed recorder the macros are no-ops.

#[cfg(feature = "prometheus")]
mod prometheus;

#[cfg(feature = "prometheus")]
pub use prometheus::{MetricsError, PrometheusHandle, install_prometheus};

/// Runs registered by `POST /runs` (new runs only, not replays).
pub const RUNS_ACCEPTED: &str = "sidefx_runs_accepted_total";
/// Failed publishes of an accepted run's first messages; the run outbox retries them.
pub const RUN_PUBLISH_FAILURES: &str = "sidefx_run_publish_failures_total";
/// `POST /runs` answered from an earlier request with the same `Idempotency-Key`.
pub const RUNS_REPLAYED: &str = "sidefx_runs_replayed_total";
/// Side effects by how the step resolved them; label [`OUTCOME`].
pub const EFFECTS: &str = "sidefx_effects_total";
/// Retries written to the retry outbox.
pub const RETRIES_SCHEDULED: &str = "sidefx_retries_scheduled_total";
/// Commands that exhausted their attempts and went to the dead-letter topic.
pub const DEAD_LETTERS: &str = "sidefx_dead_letters_total";
/// Counter: stalled runs whose command a worker published again (the broker lost it).
pub const RUNS_REDRIVEN: &str = "sidefx_runs_redriven_total";
/// Counter: stalled runs dead-lettered because redriving them did not help (the cap).
pub const RUNS_REDRIVE_CAPPED: &str = "sidefx_runs_redrive_capped_total";
/// Time the worker spent on one step, from receiving the command to its outcome.
pub const STEP_DURATION: &str = "sidefx_step_duration_seconds";
/// Time from a run's creation (`created_ms`) to its final event.
pub const SUBMIT_TO_DONE: &str = "sidefx_submit_to_done_seconds";
/// Failed broker requests; label [`KIND`] (see [`broker_error_kind`]).
pub const BROKER_ERRORS: &str = "sidefx_broker_errors_total";
/// HTTP requests served by the API; labels [`ROUTE`] and [`STATUS`].
pub const HTTP_REQUESTS: &str = "sidefx_http_requests_total";
/// HTTP request latency in the API, until the response head is ready; label [`ROUTE`].
pub const HTTP_REQUEST_DURATION: &str = "sidefx_http_request_duration_seconds";

/// Label of [`EFFECTS`]: `executed`, `skipped`, `healed` or `taken_over`.
pub const OUTCOME: &str = "outcome";
/// Label of [`BROKER_ERRORS`]: see [`broker_error_kind`] for the values.
pub const KIND: &str = "kind";
/// Label of the HTTP metrics: the matched route template (`/runs/{run_id}`), never the raw
/// path, so the number of series stays bounded.
pub const ROUTE: &str = "route";
/// Label of [`HTTP_REQUESTS`]: the numeric status code.
pub const STATUS: &str = "status";

/// Histogram bucket bounds in seconds: 0.5 ms to 10 s. The interesting latencies here are a
/// few fsyncs and loopback round trips (sub-millisecond to tens of milliseconds); the upper
/// buckets catch lease expiries and retries.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

/// A short, bounded label for a broker error, for [`BROKER_ERRORS`].
#[cfg(feature = "publisher")]
pub fn broker_error_kind(err: &driftq_client::Error) -> &'static str {
    use driftq_client::Error;
    match err {
        Error::Backpressure { .. } => "backpressure",
        err if err.is_topic_missing() => "topic_missing",
        // A concurrent produce holds the same idempotency key; callers retry shortly.
        err if err.is_key_in_flight() => "key_in_flight",
        Error::NotOwner => "not_owner",
        Error::NotFound { .. } => "not_found",
        Error::Decode(_) => "decode",
        err if err.is_transient() => "unavailable",
        _ => "rejected",
    }
}

/// Counts one broker error by its kind.
#[cfg(feature = "publisher")]
pub fn record_broker_error(err: &driftq_client::Error) {
    metrics::counter!(BROKER_ERRORS, KIND => broker_error_kind(err)).increment(1);
}

#[cfg(all(test, feature = "publisher"))]
mod tests {
    use super::*;

    #[test]
    fn broker_errors_get_bounded_kinds() {
        let backpressure = driftq_client::Error::Backpressure {
            reason: "partition_buffer_full".into(),
            retry_after: std::time::Duration::from_secs(1),
        };
        assert_eq!(broker_error_kind(&backpressure), "backpressure");
        let refused = driftq_client::Error::InvalidArgument {
            message: "topic and value are required".into(),
        };
        assert_eq!(broker_error_kind(&refused), "rejected");
        let server = driftq_client::Error::UnexpectedStatus {
            status: 503,
            body: String::new(),
        };
        assert_eq!(broker_error_kind(&server), "unavailable");
    }
}
