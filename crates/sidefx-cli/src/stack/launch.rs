//! How each service is launched in local mode: its command line and environment (loopback
//! only, data under the data dir) and its append-only log file.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};
use tokio::process::Command;

use super::effect::{EffectMode, ProviderSetup};
use super::state::Binaries;
use super::{DataDir, Service};

/// Opens a log file for appending (services keep their history across restarts).
pub fn open_log(path: &Path) -> Result<File> {
    File::options()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

/// The ports and URLs the services are wired with.
#[derive(Debug, Clone)]
pub struct Ports {
    /// API port on 127.0.0.1.
    pub api: u16,
    /// DriftQ port on 127.0.0.1.
    pub driftq: u16,
    /// DriftQ base URL.
    pub driftq_url: String,
    /// Provider mode: the provider (its port, URL and faults).
    pub provider: Option<ProviderSetup>,
}

/// The command line and environment of one service: only 127.0.0.1, data under the data dir.
/// Everything else (LOG_LEVEL, WORKER_LEASE_MS, …) is inherited from the user's environment.
/// `None` for the provider of a stack that has none.
pub fn service_command(
    service: Service,
    binaries: &Binaries,
    dir: &DataDir,
    ports: &Ports,
) -> Option<Command> {
    let mut command = Command::new(binaries.of(service)?);
    // Their output goes to log files: no terminal colour codes in there.
    command.env("NO_COLOR", "1");
    match service {
        Service::Driftq => {
            command
                .arg("--addr")
                .arg(format!("127.0.0.1:{}", ports.driftq))
                .arg("--wal")
                .arg(dir.wal_path());
        }
        Service::Provider => {
            let provider = ports.provider.as_ref()?;
            command
                .arg("--addr")
                .arg(format!("127.0.0.1:{}", provider.port))
                .arg("--db")
                .arg(dir.provider_db_path())
                .args(provider.faults.args());
        }
        Service::Api | Service::Worker => {
            command
                .env("DRIFTQ_HTTP_URL", &ports.driftq_url)
                .env("SIDEFX_DB_PATH", dir.db_path())
                .env("ARTIFACTS_DIR", dir.artifacts_dir())
                // The demos, the torture and the bench crash and fail runs on purpose; a
                // local stack listens on loopback only.
                .env("SIDEFX_CHAOS", "1");
            if service == Service::Api {
                command.env("API_ADDR", format!("127.0.0.1:{}", ports.api));
            } else {
                worker_effect(&mut command, ports.provider.as_ref());
            }
        }
    }
    Some(command)
}

/// The variable of the worker's Prometheus listener.
const WORKER_METRICS_ADDR: &str = "WORKER_METRICS_ADDR";

/// Gives worker `index` its own metrics port when the user set `WORKER_METRICS_ADDR` (the
/// services inherit our environment): the configured port plus the index. With one address
/// for all, every worker but the first fails to bind and exits, and is restarted, forever.
/// This is the one variable of the services the launcher reads: it must be spread, not passed.
pub fn worker_metrics_addr(command: &mut Command, index: usize) -> Result<()> {
    let Some(base) = std::env::var_os(WORKER_METRICS_ADDR) else {
        return Ok(());
    };
    let base = base.to_string_lossy();
    let addr = nth_port(&base, index)
        .with_context(|| format!("{WORKER_METRICS_ADDR}={base}: expected HOST:PORT"))?;
    command.env(WORKER_METRICS_ADDR, addr.to_string());
    Ok(())
}

/// `base` with its port moved up by `index` (port 0 stays 0: each worker picks a free one).
fn nth_port(base: &str, index: usize) -> Option<std::net::SocketAddr> {
    let mut addr: std::net::SocketAddr = base.trim().parse().ok()?;
    if addr.port() != 0 {
        let port = u16::try_from(usize::from(addr.port()).checked_add(index)?).ok()?;
        addr.set_port(port);
    }
    Some(addr)
}

/// The worker's effect, always set: a `WORKER_EFFECT` in the user's environment must not
/// make a ticket stack's workers charge a provider that is not there (or the reverse).
fn worker_effect(command: &mut Command, provider: Option<&ProviderSetup>) {
    match provider {
        Some(provider) => command
            .env("WORKER_EFFECT", EffectMode::Provider.name())
            .env("PROVIDER_URL", &provider.url),
        None => command.env("WORKER_EFFECT", EffectMode::Ticket.name()),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_wired_to_the_data_dir_and_loopback() {
        let dir = DataDir::new(Path::new("/tmp/stack")).unwrap();
        let (binaries, ports) = (binaries(None), ports(None));
        let driftq = service_command(Service::Driftq, &binaries, &dir, &ports).unwrap();
        assert_eq!(
            args(&driftq),
            [
                "--addr",
                "127.0.0.1:9080",
                "--wal",
                "/tmp/stack/wal/driftq.wal"
            ]
        );
        let api = service_command(Service::Api, &binaries, &dir, &ports).unwrap();
        let api_envs = envs(&api);
        assert!(api_envs.contains(&("API_ADDR".into(), "127.0.0.1:9000".into())));
        assert!(api_envs.contains(&(
            "SIDEFX_DB_PATH".into(),
            "/tmp/stack/store/side_effects.sqlite".into()
        )));
        let worker = service_command(Service::Worker, &binaries, &dir, &ports).unwrap();
        assert!(worker.as_std().get_envs().all(|(k, _)| k != "API_ADDR"));
        assert!(envs(&worker).contains(&("WORKER_EFFECT".into(), "ticket".into())));
        assert!(envs(&worker).iter().all(|(k, _)| k != "PROVIDER_URL"));
        // The demos crash and fail runs on purpose: both services honour the switches.
        let chaos = ("SIDEFX_CHAOS".into(), "1".into());
        assert!(api_envs.contains(&chaos) && envs(&worker).contains(&chaos));
        assert!(service_command(Service::Provider, &binaries, &dir, &ports).is_none());
    }

    #[test]
    fn in_provider_mode_the_workers_charge_the_stacks_provider() {
        let dir = DataDir::new(Path::new("/tmp/stack")).unwrap();
        let binaries = binaries(Some("/b/sidefx-provider"));
        let provider = ProviderSetup {
            url: "http://127.0.0.1:9090".into(),
            port: 9090,
            faults: super::super::effect::ProviderFaults {
                fail_before_commit_rate: 0.5,
                ..Default::default()
            },
        };
        let ports = ports(Some(provider));
        let command = service_command(Service::Provider, &binaries, &dir, &ports).unwrap();
        assert_eq!(
            args(&command),
            [
                "--addr",
                "127.0.0.1:9090",
                "--db",
                "/tmp/stack/provider/provider.sqlite",
                "--fail-before-commit-rate",
                "0.5"
            ]
        );
        let worker = service_command(Service::Worker, &binaries, &dir, &ports).unwrap();
        let envs = envs(&worker);
        assert!(envs.contains(&("WORKER_EFFECT".into(), "provider".into())));
        assert!(envs.contains(&("PROVIDER_URL".into(), "http://127.0.0.1:9090".into())));
    }

    #[test]
    fn each_worker_gets_the_next_metrics_port() {
        let ports: Vec<_> = (0..3)
            .map(|i| nth_port("127.0.0.1:9100", i).unwrap().to_string())
            .collect();
        assert_eq!(
            ports,
            ["127.0.0.1:9100", "127.0.0.1:9101", "127.0.0.1:9102"]
        );
        assert_eq!(nth_port("0.0.0.0:0", 2).unwrap().to_string(), "0.0.0.0:0");
        assert_eq!(nth_port("127.0.0.1:65535", 1), None, "past the last port");
        assert_eq!(nth_port("localhost", 0), None);
    }

    /// The binaries of a stack under `/b`, with `provider` if it has one.
    fn binaries(provider: Option<&str>) -> Binaries {
        Binaries {
            driftq: "/b/driftq-local".into(),
            api: "/b/sidefx-api".into(),
            worker: "/b/sidefx-worker".into(),
            provider: provider.map(Into::into),
        }
    }

    /// The API on 9000 and DriftQ on 9080, with `provider` if the stack has one.
    fn ports(provider: Option<ProviderSetup>) -> Ports {
        Ports {
            api: 9000,
            driftq: 9080,
            driftq_url: "http://127.0.0.1:9080".into(),
            provider,
        }
    }

    fn args(command: &Command) -> Vec<String> {
        command
            .as_std()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn envs(command: &Command) -> Vec<(String, String)> {
        command
            .as_std()
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.unwrap_or_default().to_string_lossy().into_owned(),
                )
            })
            .collect()
    }
}
