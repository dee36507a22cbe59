//! Logging to stderr, filtered by `LOG_LEVEL`, as `key=value` text or JSON lines.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The filter does not parse.
    #[error("invalid log level {0:?}: {1}")]
    Filter(String, String),
    /// A global subscriber was already installed.
    #[error("logging already initialised")]
    AlreadySet,
}

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init(level: &str, format: LogFormat) -> Result<(), TelemetryError> {
    let filter = EnvFilter::try_new(level)
        .map_err(|e| TelemetryError::Filter(level.to_owned(), e.to_string()))?;
    // Colour only on a terminal: tests and the stack launcher parse the `addr=` field.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|_| TelemetryError::AlreadySet)
}
