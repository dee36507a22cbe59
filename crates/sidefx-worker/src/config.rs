//! The worker's one typed configuration, read once from flags and environment variables.
//! Doc comments on the fields are the `--help` text.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use sidefx_core::config::{ChaosArgs, DriftqArgs, StoreArgs, TelemetryArgs};

use crate::mutation::Mutation;

/// DriftQ only accepts consume leases of 250 ms ..= 10 min for messages that carry an
/// idempotency key (PROTOCOL Q9), and every sidefx command carries one. Outside that range
/// the broker silently never delivers them and the partition stalls, so we refuse to start.
const LEASE_MS_RANGE: std::ops::RangeInclusive<u64> = 250..=600_000;

/// Configuration of `sidefx-worker`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "sidefx-worker",
    version,
    about = "Consumes sidefx commands and performs each side effect exactly once"
)]
pub struct WorkerConfig {
    /// Where DriftQ is.
    #[command(flatten)]
    pub driftq: DriftqArgs,

    /// Where the SQLite store and the artifacts (tickets) live.
    #[command(flatten)]
    pub store: StoreArgs,

    /// Log level and format.
    #[command(flatten)]
    pub telemetry: TelemetryArgs,

    /// Whether commands may crash or fail this worker on purpose (`SIDEFX_CHAOS`).
    #[command(flatten)]
    pub chaos: ChaosArgs,

    /// DriftQ consumer group. All workers of one deployment share it, so each command is
    /// delivered to one of them at a time.
    #[arg(long, env = "WORKER_GROUP", default_value = "sidefx-worker")]
    pub worker_group: String,

    /// Owner name of this process, for DriftQ leases and for side-effect claims: the
    /// fencing identity. A per-process suffix `-<pid>-<4 random hex>` is always appended, so
    /// two processes given one name (e.g. a copied `.env`) never accept each other's acks or
    /// take over each other's live claims. Default: sidefx-worker-<hostname>.
    #[arg(long, env = "DRIFTQ_OWNER", default_value_t = default_owner(), hide_default_value = true,
          value_parser = unique_owner)]
    pub driftq_owner: String,

    /// DriftQ lease in milliseconds: a delivered command not acked in time is redelivered
    /// (to another worker). Must be 250..=600000: DriftQ never delivers keyed commands with
    /// other leases. Claims have their own lease, WORKER_CLAIM_LEASE_MS.
    #[arg(long, env = "WORKER_LEASE_MS", default_value_t = 5000, value_parser = parse_lease_ms)]
    pub lease_ms: u64,

    /// Claim lease in milliseconds: how long a side-effect claim protects its effect without
    /// a sign of life. While the effect runs, a heartbeat renews it every third of this; a
    /// claim whose worker died is taken over once it expired, as measured on the taker's own
    /// monotonic clock. Independent of the DriftQ lease. 250..=3600000.
    #[arg(long, env = "WORKER_CLAIM_LEASE_MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(250..=3_600_000))]
    pub claim_lease_ms: u64,

    /// How many commands this process handles at once. DriftQ allows 2 unacked messages per
    /// partition and group, so more than 2 x the partition count buys nothing.
    #[arg(long, env = "WORKER_CONCURRENCY", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,

    /// Backoff before the first retry of a failed step, in milliseconds; it doubles per attempt.
    #[arg(long, env = "WORKER_RETRY_BASE_MS", default_value_t = 1000)]
    pub retry_base_ms: u64,

    /// Upper bound of the retry backoff, in milliseconds.
    #[arg(long, env = "WORKER_RETRY_MAX_MS", default_value_t = 10_000)]
    pub retry_max_ms: u64,

    /// Redrive a run whose row has not changed for this many milliseconds (and that has no
    /// retry waiting): DriftQ can lose an unacked command across a restart, and this is how
    /// such a run still finishes. A redrive that was not needed only costs a skipped step, so
    /// keep it well above the time a run normally waits in the queue. At least 1000.
    #[arg(long, env = "WORKER_REDRIVE_AFTER_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(1000..))]
    pub redrive_after_ms: u64,

    /// The side effect: `ticket` writes a ticket file per business key (the original's demo);
    /// `provider` charges the amount at a Stripe-like payments API at PROVIDER_URL, then
    /// writes the ticket naming the charge.
    #[arg(long, env = "WORKER_EFFECT", value_enum, default_value_t = EffectKind::Ticket)]
    pub effect: EffectKind,

    /// Provider mode: the payments provider's base URL (sidefx-provider, or any server that
    /// speaks its contract).
    #[arg(long, env = "PROVIDER_URL", default_value = "http://127.0.0.1:8090")]
    pub provider_url: String,

    /// Provider mode: how long one call to the provider may take, in milliseconds. Must be
    /// shorter than WORKER_CLAIM_LEASE_MS, so that a call ends within one claim lease even
    /// if the heartbeat that renews the claim could not reach the store.
    #[arg(long, env = "PROVIDER_TIMEOUT_MS", default_value_t = 3000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub provider_timeout_ms: u64,

    /// Provider mode: how long the provider keeps an idempotency key, in seconds (a day by
    /// default, as Stripe; the simulator reads the same variable). An effect claimed longer
    /// ago than this, whose charge a lookup does not find, is not charged again
    /// automatically: the run is dead-lettered with `idempotency_window_passed`.
    #[arg(long, env = "PROVIDER_KEY_RETENTION_SECS", default_value_t = 86_400,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub provider_key_retention_secs: u64,

    /// Test only, debug builds only: break the step on purpose (`rerun_effect`), to prove that
    /// the torture's evidence sees double executions. A release build refuses to start.
    #[arg(long, env = "SIDEFX_MUTATION", value_enum)]
    pub mutation: Option<Mutation>,

    /// Redrives a stalled run may get; the wait before each doubles (WORKER_REDRIVE_AFTER_MS,
    /// then twice that, …). A run still stalled after this many is dead-lettered with
    /// reason `redrive_cap`, so one poison command cannot be republished forever. 1..=30.
    #[arg(long, env = "WORKER_MAX_REDRIVES", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=30))]
    pub max_redrives: u32,

    /// How often this process records its heartbeat in the store's `workers` table (what
    /// `GET /debug/workers` shows), in milliseconds. A worker whose last heartbeat is older
    /// than three of these counts as not alive. 100..=60000.
    #[arg(long, env = "WORKER_HEARTBEAT_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub heartbeat_ms: u64,

    /// Address of the Prometheus endpoint (`GET /metrics`), e.g. 127.0.0.1:9100. Unset: no
    /// listener, and no metrics are recorded.
    #[arg(long, env = "WORKER_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

/// Which side effect the worker performs (`WORKER_EFFECT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EffectKind {
    /// A create-only ticket file per business key.
    Ticket,
    /// A charge at a payments provider, then its ticket.
    Provider,
}

/// A combination of settings the worker refuses to start with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A provider call could outlive the claim that protects it.
    #[error(
        "PROVIDER_TIMEOUT_MS ({timeout_ms}) must be shorter than WORKER_CLAIM_LEASE_MS \
         ({lease_ms}): a provider call that outlives its claim can run twice"
    )]
    ProviderTimeoutNotUnderLease {
        /// PROVIDER_TIMEOUT_MS.
        timeout_ms: u64,
        /// WORKER_CLAIM_LEASE_MS.
        lease_ms: u64,
    },
    /// The mutation switch in a release build.
    #[error("SIDEFX_MUTATION breaks the worker on purpose and is only honoured by debug builds")]
    MutationInRelease,
}

impl WorkerConfig {
    /// Checks what single flags cannot: the provider timeout against the lease, and that
    /// the mutation switch is never honoured by a release build.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.effect == EffectKind::Provider && self.provider_timeout_ms >= self.claim_lease_ms {
            return Err(ConfigError::ProviderTimeoutNotUnderLease {
                timeout_ms: self.provider_timeout_ms,
                lease_ms: self.claim_lease_ms,
            });
        }
        if cfg!(not(debug_assertions)) && self.mutation.is_some() {
            return Err(ConfigError::MutationInRelease);
        }
        Ok(())
    }

    /// The provider call timeout as a duration.
    pub fn provider_timeout(&self) -> Duration {
        Duration::from_millis(self.provider_timeout_ms)
    }

    /// The DriftQ lease as a duration.
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }

    /// The claim lease as a duration.
    pub fn claim_lease(&self) -> Duration {
        Duration::from_millis(self.claim_lease_ms)
    }

    /// How often this process records its heartbeat.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }

    /// How long a run may make no progress before it is redriven.
    pub fn redrive_after(&self) -> Duration {
        Duration::from_millis(self.redrive_after_ms)
    }
}

fn parse_lease_ms(raw: &str) -> Result<u64, String> {
    let ms: u64 = raw
        .trim()
        .parse()
        .map_err(|e| format!("not a number of milliseconds: {e}"))?;
    if LEASE_MS_RANGE.contains(&ms) {
        Ok(ms)
    } else {
        Err(format!(
            "{ms} ms is outside 250..=600000: DriftQ never delivers commands (they carry \
             idempotency keys) to consumers with such a lease, and the partition would stall"
        ))
    }
}

/// `sidefx-worker-<hostname>`: readable in logs; [`unique_owner`] makes it unique.
fn default_owner() -> String {
    format!("sidefx-worker-{}", hostname())
}

/// This machine's host name (`host` when it cannot be read).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned())
}

/// `<name>-<pid>-<4 random hex>`: unique per process even for two processes a supervisor
/// restarts with the same pid in fresh containers, and for two given the same name.
fn unique_owner(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err("an owner name must be non-empty and free of control characters".into());
    }
    let suffix: u16 = rand::random();
    Ok(format!("{name}-{}-{suffix:04x}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Result<WorkerConfig, clap::Error> {
        WorkerConfig::try_parse_from(std::iter::once("sidefx-worker").chain(extra.iter().copied()))
    }

    #[test]
    fn defaults_are_usable() {
        let c = parse(&[]).expect("defaults parse");
        assert_eq!(c.worker_group, "sidefx-worker");
        assert_eq!(c.lease_ms, 5000);
        assert_eq!(c.concurrency, 16);
        assert!(c.driftq_owner.starts_with("sidefx-worker-"));
        assert_eq!(c.metrics_addr, None, "no metrics listener unless asked for");
        assert_eq!(c.redrive_after(), Duration::from_secs(30));
        assert!(
            !c.chaos.enabled,
            "chaos switches are off unless SIDEFX_CHAOS says so"
        );
        assert!(parse(&["--chaos"]).unwrap().chaos.enabled);
    }

    #[test]
    fn lease_outside_keyed_message_bounds_is_rejected() {
        for bad in ["100", "249", "600001", "abc"] {
            let err = parse(&["--lease-ms", bad]).expect_err(bad).to_string();
            assert!(err.contains("lease"), "{err}");
        }
        assert_eq!(parse(&["--lease-ms", "250"]).expect("250").lease_ms, 250);
        assert_eq!(
            parse(&["--lease-ms", "600000"]).expect("max").lease_ms,
            600_000
        );
    }

    #[test]
    fn the_provider_timeout_must_be_shorter_than_the_claim_lease() {
        let ok = parse(&["--effect", "provider", "--lease-ms", "1000"]).unwrap();
        assert_eq!(ok.effect, EffectKind::Provider);
        ok.validate()
            .expect("3 s under a 5 s claim lease, whatever the DriftQ lease");
        let slow = parse(&["--effect", "provider", "--provider-timeout-ms", "5000"]).unwrap();
        let err = slow
            .validate()
            .expect_err("equal to the claim lease")
            .to_string();
        assert!(
            err.contains("PROVIDER_TIMEOUT_MS") && err.contains("WORKER_CLAIM_LEASE_MS"),
            "{err}"
        );
        let ticket = parse(&["--provider-timeout-ms", "9000"]).unwrap();
        ticket
            .validate()
            .expect("ticket mode makes no provider call");
        assert_eq!(ticket.effect, EffectKind::Ticket, "ticket is the default");
    }

    #[test]
    fn the_mutation_switch_takes_its_documented_name() {
        let c = parse(&["--mutation", "rerun_effect"]).expect("parses");
        assert_eq!(c.mutation, Some(Mutation::RerunEffect));
        assert_eq!(parse(&[]).unwrap().mutation, None, "off by default");
        // Debug builds (the tests) honour it; a release build refuses it at start-up.
        assert_eq!(c.validate().is_ok(), cfg!(debug_assertions));
    }

    #[test]
    fn a_given_owner_name_is_made_unique_per_process() {
        let (a, b) = (
            parse(&["--driftq-owner", "worker-1"]).unwrap().driftq_owner,
            parse(&["--driftq-owner", "worker-1"]).unwrap().driftq_owner,
        );
        let prefix = format!("worker-1-{}-", std::process::id());
        assert!(a.starts_with(&prefix) && b.starts_with(&prefix), "{a} {b}");
        // Two random suffixes of 16 bits collide once in 65536; retry once before failing.
        let c = parse(&["--driftq-owner", "worker-1"]).unwrap().driftq_owner;
        assert!(a != b || a != c, "{a} {b} {c}");
        assert!(parse(&["--driftq-owner", " "]).is_err());
    }

    #[test]
    fn concurrency_must_be_positive() {
        assert!(parse(&["--concurrency", "0"]).is_err());
    }

    #[test]
    fn the_heartbeat_defaults_to_two_seconds_within_bounds() {
        assert_eq!(parse(&[]).unwrap().heartbeat(), Duration::from_secs(2));
        for bad in ["99", "60001", "0", "x"] {
            assert!(parse(&["--heartbeat-ms", bad]).is_err(), "{bad}");
        }
        assert_eq!(parse(&["--heartbeat-ms", "100"]).unwrap().heartbeat_ms, 100);
    }

    #[test]
    fn redrive_needs_at_least_a_second() {
        assert!(parse(&["--redrive-after-ms", "999"]).is_err());
        assert_eq!(
            parse(&["--redrive-after-ms", "1000"])
                .expect("1000")
                .redrive_after_ms,
            1000
        );
    }
}
