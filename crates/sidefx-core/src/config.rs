//! Configuration groups shared by the binaries, `#[command(flatten)]`ed into each binary's one
//! config struct. Every value can come from a flag or its environment variable; nothing else
//! in the project reads the environment.

use std::path::PathBuf;

/// Where DriftQ is.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct DriftqArgs {
    /// Base URL of the DriftQ HTTP API.
    #[arg(long, env = "DRIFTQ_HTTP_URL", default_value = "http://localhost:8080")]
    pub driftq_http_url: String,
}

/// Where the state lives on disk.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct StoreArgs {
    /// SQLite database holding side-effect claims, runs and scheduled retries.
    #[arg(
        long,
        env = "SIDEFX_DB_PATH",
        default_value = "data/side_effects.sqlite"
    )]
    pub db_path: PathBuf,

    /// Directory for side-effect artifacts (tickets go to its tickets/ subdirectory).
    #[arg(long, env = "ARTIFACTS_DIR", default_value = "data/artifacts")]
    pub artifacts_dir: PathBuf,
}

/// The demo's chaos switches, shared by the API and the worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::Args)]
pub struct ChaosArgs {
    /// Honour the chaos switches of a run (`fail_mode` crashes the worker on purpose,
    /// `fail_before_effect_n` fails attempts on purpose). Off by default, because with it
    /// any client that can create a run can crash the workers: then the API answers 422
    /// `chaos_disabled` to a request that sets them, and the worker ignores them in a
    /// command (with a warning). The demo stacks turn it on; production leaves it off.
    #[arg(long = "chaos", env = "SIDEFX_CHAOS", default_value_t = false,
        value_parser = clap::builder::BoolishValueParser::new())]
    pub enabled: bool,
}

/// How to log.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct TelemetryArgs {
    /// Log filter, e.g. "info" or "sidefx_worker=debug,info" (tracing EnvFilter syntax).
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Log line format on stderr.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable `key=value` lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct TestConfig {
        #[command(flatten)]
        driftq: DriftqArgs,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        telemetry: TelemetryArgs,
    }

    #[test]
    fn flags_parse_and_defaults_hold() {
        let c = TestConfig::try_parse_from([
            "t",
            "--driftq-http-url",
            "http://127.0.0.1:1",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(c.driftq.driftq_http_url, "http://127.0.0.1:1");
        assert_eq!(c.telemetry.log_format, LogFormat::Json);
        assert!(TestConfig::try_parse_from(["t", "--log-format", "xml"]).is_err());
    }

    #[test]
    fn every_value_has_its_environment_variable() {
        TestConfig::command().debug_assert();
        let command = TestConfig::command();
        let env_of = |id: &str| {
            let arg = command.get_arguments().find(|a| a.get_id() == id).unwrap();
            arg.get_env().unwrap().to_str().unwrap().to_owned()
        };
        assert_eq!(env_of("driftq_http_url"), "DRIFTQ_HTTP_URL");
        assert_eq!(env_of("db_path"), "SIDEFX_DB_PATH");
        assert_eq!(env_of("artifacts_dir"), "ARTIFACTS_DIR");
        assert_eq!(env_of("log_level"), "LOG_LEVEL");
        assert_eq!(env_of("log_format"), "LOG_FORMAT");
    }
}
