//! The one typed configuration of `sidefx-provider`, read once at startup from flags and
//! environment variables. Doc comments here become `sidefx-provider --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::faults::{FaultRates, Rate};

/// Configuration of the `sidefx-provider` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "sidefx-provider",
    version,
    about = "A Stripe-like payments provider simulator: idempotency keys, a ledger of real \
             executions, seeded fault injection"
)]
pub struct ProviderConfig {
    /// Address to listen on (port 0 picks a free port; the bound one is logged).
    #[arg(long, env = "PROVIDER_ADDR", default_value = "127.0.0.1:8090")]
    pub addr: SocketAddr,

    /// SQLite file of keys, charges and counts (its directory is created).
    #[arg(long, env = "PROVIDER_DB_PATH", default_value = "data/provider.sqlite")]
    pub db: PathBuf,

    /// How long an idempotency key is remembered; after it the key is new again.
    #[arg(long, env = "PROVIDER_KEY_RETENTION_SECS", default_value_t = 86_400,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub key_retention_secs: u64,

    /// Seed of the fault decisions (default: random, logged at start to reproduce a run).
    #[arg(long, env = "PROVIDER_SEED")]
    pub seed: Option<u64>,

    /// Rate in [0, 1] of charges committed whose connection is then dropped unanswered.
    #[arg(long, env = "PROVIDER_DROP_AFTER_COMMIT_RATE", default_value_t = Rate::NEVER)]
    pub drop_after_commit_rate: Rate,

    /// Rate in [0, 1] of charges answered 503 with `Retry-After: 1`, committing nothing.
    #[arg(long, env = "PROVIDER_FAIL_BEFORE_COMMIT_RATE", default_value_t = Rate::NEVER)]
    pub fail_before_commit_rate: Rate,

    /// Rate in [0, 1] of charges held for `--slow-ms` before committing.
    #[arg(long, env = "PROVIDER_SLOW_RATE", default_value_t = Rate::NEVER)]
    pub slow_rate: Rate,

    /// How long a slow charge is held, in milliseconds.
    #[arg(long, env = "PROVIDER_SLOW_MS", default_value_t = 3000)]
    pub slow_ms: u64,

    /// Rate in [0, 1] of charges answered 429 with `Retry-After: 1`, committing nothing.
    #[arg(long, env = "PROVIDER_RATE_LIMIT_RATE", default_value_t = Rate::NEVER)]
    pub rate_limit_rate: Rate,

    /// Log filter, e.g. "info" or "sidefx_provider=debug" (tracing EnvFilter syntax).
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
    /// One JSON object per line.
    Json,
}

impl ProviderConfig {
    /// The fault rates the flags ask for.
    pub fn fault_rates(&self) -> FaultRates {
        FaultRates {
            rate_limit: self.rate_limit_rate,
            fail_before_commit: self.fail_before_commit_rate,
            slow: self.slow_rate,
            slow_for: Duration::from_millis(self.slow_ms),
            drop_after_commit: self.drop_after_commit_rate,
        }
    }

    /// How long keys are retained.
    pub fn key_retention(&self) -> Duration {
        Duration::from_secs(self.key_retention_secs)
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn defaults_hold_and_rates_are_checked() {
        ProviderConfig::command().debug_assert();
        let c = ProviderConfig::try_parse_from(["p"]).unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:8090");
        assert_eq!(c.db, PathBuf::from("data/provider.sqlite"));
        assert_eq!(c.key_retention(), Duration::from_secs(86_400));
        assert_eq!(c.fault_rates().slow_for, Duration::from_secs(3));
        let c = ProviderConfig::try_parse_from(["p", "--slow-rate", "0.5"]).unwrap();
        assert_eq!(c.fault_rates().slow.get(), 0.5);
        let err = ProviderConfig::try_parse_from(["p", "--drop-after-commit-rate", "1.5"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("between 0 and 1"), "{err}");
    }
}
