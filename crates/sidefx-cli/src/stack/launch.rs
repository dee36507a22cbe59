//! How each service is launched in local mode: its command line and environment (loopback
//! only, data under the data dir) and its append-only log file.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};
use tokio::process::Command;

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

/// The ports and URL the services are wired with.
#[derive(Debug, Clone)]
pub struct Ports {
    /// API port on 127.0.0.1.
    pub api: u16,
    /// DriftQ port on 127.0.0.1.
    pub driftq: u16,
    /// DriftQ base URL.
    pub driftq_url: String,
}

/// The command line and environment of one service: only 127.0.0.1, data under the data dir.
/// Everything else (LOG_LEVEL, WORKER_LEASE_MS, …) is inherited from the user's environment.
pub fn service_command(
    service: Service,
    binaries: &Binaries,
    dir: &DataDir,
    ports: &Ports,
) -> Command {
    let mut command = Command::new(binaries.of(service));
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
        Service::Api | Service::Worker => {
            command
                .env("DRIFTQ_HTTP_URL", &ports.driftq_url)
                .env("SIDEFX_DB_PATH", dir.db_path())
                .env("ARTIFACTS_DIR", dir.artifacts_dir());
            if service == Service::Api {
                command.env("API_ADDR", format!("127.0.0.1:{}", ports.api));
            }
        }
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_wired_to_the_data_dir_and_loopback() {
        let dir = DataDir::new(Path::new("/tmp/stack")).unwrap();
        let binaries = Binaries {
            driftq: "/b/driftq-local".into(),
            api: "/b/sidefx-api".into(),
            worker: "/b/sidefx-worker".into(),
        };
        let ports = Ports {
            api: 9000,
            driftq: 9080,
            driftq_url: "http://127.0.0.1:9080".into(),
        };
        let driftq = service_command(Service::Driftq, &binaries, &dir, &ports);
        let args: Vec<_> = driftq
            .as_std()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "--addr",
                "127.0.0.1:9080",
                "--wal",
                "/tmp/stack/wal/driftq.wal"
            ]
        );
        let api = service_command(Service::Api, &binaries, &dir, &ports);
        let envs: Vec<_> = api
            .as_std()
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.unwrap().to_string_lossy().into_owned(),
                )
            })
            .collect();
        assert!(envs.contains(&("API_ADDR".into(), "127.0.0.1:9000".into())));
        assert!(envs.contains(&(
            "SIDEFX_DB_PATH".into(),
            "/tmp/stack/store/side_effects.sqlite".into()
        )));
        let worker = service_command(Service::Worker, &binaries, &dir, &ports);
        assert!(worker.as_std().get_envs().all(|(k, _)| k != "API_ADDR"));
    }
}
