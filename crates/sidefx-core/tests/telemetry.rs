//! The telemetry initializer reports errors instead of panicking. Its own test binary: it
//! installs the process-wide subscriber.

use sidefx_core::config::{LogFormat, TelemetryArgs};
use sidefx_core::telemetry::{self, TelemetryError};

#[test]
fn bad_filter_and_second_init_are_errors() {
    let args = |level: &str| TelemetryArgs {
        log_level: level.to_owned(),
        log_format: LogFormat::Json,
    };
    let bad = telemetry::init(&args("sidefx_worker=loudest")).unwrap_err();
    assert!(matches!(bad, TelemetryError::Filter { .. }), "{bad}");

    telemetry::init(&args("sidefx_worker=debug,info")).unwrap();
    tracing::info!(check = true, "telemetry installed");
    let twice = telemetry::init(&args("info")).unwrap_err();
    assert!(matches!(twice, TelemetryError::Install(_)), "{twice}");
}
