//! The Prometheus recorder: installed once per process, every metric described, its raw
//! histogram samples folded into buckets by a small upkeep thread.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use metrics::{Unit, describe_counter, describe_histogram};
use metrics_exporter_prometheus::{BuildError, PrometheusBuilder};

/// The handle that renders the installed recorder's text; re-exported so binaries need no
/// direct dependency on the exporter crate.
pub use metrics_exporter_prometheus::PrometheusHandle;

use super::{
    BROKER_ERRORS, DEAD_LETTERS, EFFECTS, HTTP_REQUEST_DURATION, HTTP_REQUESTS, LATENCY_BUCKETS,
    RETRIES_SCHEDULED, RUN_PUBLISH_FAILURES, RUNS_ACCEPTED, RUNS_REDRIVE_CAPPED, RUNS_REDRIVEN,
    RUNS_REPLAYED, STEP_DURATION, SUBMIT_TO_DONE,
};

/// How often raw histogram samples are folded into buckets when nobody scrapes. Without
/// upkeep the recorder keeps every sample until the next render, which grows without bound.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The recorder could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Another global recorder is installed in this process (not one of ours), or the
    /// builder refused its settings.
    #[error("installing the Prometheus recorder: {0}")]
    Install(#[from] BuildError),
    /// The upkeep thread could not be started.
    #[error("starting the metrics upkeep thread: {0}")]
    Upkeep(#[source] std::io::Error),
}

/// The handle of the recorder this module installed, if any. A process has one global
/// recorder; tests build many `AppState`s in one process, so later calls reuse it.
static INSTALLED: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Installs the Prometheus recorder (once per process; later calls return the same handle),
/// describes every metric, and starts a small upkeep thread. Render with
/// [`PrometheusHandle::render`]; no listener is opened here.
pub fn install_prometheus() -> Result<PrometheusHandle, MetricsError> {
    // Held across the install so two racing first calls cannot both try to install.
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(handle) = installed.as_ref() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(&LATENCY_BUCKETS)?
        .install_recorder()?;
    describe_all();
    start_upkeep(handle.clone())?;
    *installed = Some(handle.clone());
    Ok(handle)
}

/// Registers the help text and unit of every metric with the installed recorder.
fn describe_all() {
    describe_counter!(RUNS_ACCEPTED, "Runs registered by POST /runs.");
    describe_counter!(
        RUNS_REPLAYED,
        "POST /runs answered by Idempotency-Key replay."
    );
    describe_counter!(
        RUN_PUBLISH_FAILURES,
        "Failed publishes of an accepted run's first messages (the run outbox retries them)."
    );
    describe_counter!(EFFECTS, "Side effects by outcome of the step.");
    describe_counter!(RETRIES_SCHEDULED, "Retries written to the retry outbox.");
    describe_counter!(DEAD_LETTERS, "Commands sent to the dead-letter topic.");
    describe_counter!(
        RUNS_REDRIVEN,
        "Stalled runs whose command was published again by the redrive sweeper."
    );
    describe_counter!(
        RUNS_REDRIVE_CAPPED,
        "Stalled runs dead-lettered after WORKER_MAX_REDRIVES redrives did not move them."
    );
    describe_counter!(BROKER_ERRORS, "Failed DriftQ requests by kind.");
    describe_counter!(HTTP_REQUESTS, "HTTP requests by matched route and status.");
    describe_histogram!(STEP_DURATION, Unit::Seconds, "Worker time per step.");
    describe_histogram!(
        SUBMIT_TO_DONE,
        Unit::Seconds,
        "Run creation to final event."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "HTTP request latency by matched route."
    );
}

/// A detached thread, not a task: the recorder is process-global and must not depend on
/// which (or whether a) Tokio runtime is alive; it sleeps almost all the time.
fn start_upkeep(handle: PrometheusHandle) -> Result<(), MetricsError> {
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        })
        .map(drop)
        .map_err(MetricsError::Upkeep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_is_idempotent_and_renders_described_metrics() {
        install_prometheus().expect("first install");
        let again = install_prometheus().expect("second install returns the same handle");
        metrics::counter!(RUNS_ACCEPTED).increment(2);
        metrics::histogram!(SUBMIT_TO_DONE).record(0.004);
        let text = again.render();
        assert!(text.contains("sidefx_runs_accepted_total 2"), "{text}");
        assert!(text.contains("# HELP sidefx_runs_accepted_total"), "{text}");
        assert!(
            text.contains("sidefx_submit_to_done_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
    }
}
