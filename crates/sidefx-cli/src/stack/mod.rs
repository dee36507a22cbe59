//! The stack (DriftQ + API + worker, and in provider mode the payments provider) as one thing to start, stop and inspect, in either of two
//! modes: Docker Compose, or local processes under a supervisor. Commands pick the mode from
//! their flags, else from the state file of the data dir, else from what the machine has.

pub mod args;
pub mod binaries;
pub mod children;
pub mod docker;
pub mod effect;
pub mod launch;
pub mod local;
pub mod log_files;
pub mod plan;
pub mod process;
pub mod report;
pub mod restart;
pub mod state;
pub mod status;
pub mod status_workers;
pub mod supervisor;
pub mod throwaway;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::health::HealthCheck;
use crate::ui::Style;
pub use args::{DownArgs, ModeArgs, StatusArgs, UpArgs};
use state::StackState;

/// How the stack runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `docker compose` with the project's docker-compose.yml.
    Docker,
    /// `driftq-local`, `sidefx-api` and `sidefx-worker` (and `sidefx-provider`) processes
    /// under `sidefx supervise`.
    Local,
}

/// One service of the stack. The names are the compose service names and the log file stems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    /// The sidefx HTTP API.
    Api,
    /// The sidefx worker (performs the side effects).
    Worker,
    /// The DriftQ broker.
    Driftq,
    /// The payments provider simulator (provider mode only).
    Provider,
}

impl Service {
    /// Every service, in start order (a ticket-mode stack has no provider: see
    /// [`state::StackState::services`]).
    pub const ALL: [Service; 4] = [
        Service::Driftq,
        Service::Provider,
        Service::Api,
        Service::Worker,
    ];

    /// Compose service name and log file stem.
    pub fn name(self) -> &'static str {
        match self {
            Service::Api => "api",
            Service::Worker => "worker",
            Service::Driftq => "driftq",
            Service::Provider => "provider",
        }
    }
}

/// The files of one stack inside its data directory (always an absolute path, because the
/// supervisor and the services it starts must not depend on their working directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Resolves `path` against the current directory without requiring it to exist.
    pub fn new(path: &Path) -> Result<Self> {
        let root = std::path::absolute(path)
            .with_context(|| format!("cannot resolve data dir {}", path.display()))?;
        Ok(Self { root })
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `state.json`: mode, ports, URLs and PIDs of the running stack.
    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// Output of one service (local mode).
    pub fn log_file(&self, service: Service) -> PathBuf {
        self.root.join(format!("{}.log", service.name()))
    }

    /// Output of a detached supervisor.
    pub fn supervisor_log(&self) -> PathBuf {
        self.root.join("supervisor.log")
    }

    /// DriftQ's write-ahead log (in its own directory: a WAL reset leaves `.bak` files beside it).
    pub fn wal_path(&self) -> PathBuf {
        self.root.join("wal").join("driftq.wal")
    }

    /// The SQLite store of side effects and runs.
    pub fn db_path(&self) -> PathBuf {
        self.root.join("store").join("side_effects.sqlite")
    }

    /// Where the worker writes ticket files.
    pub fn artifacts_dir(&self) -> PathBuf {
        self.root.join("artifacts")
    }

    /// The provider's SQLite ledger (provider mode).
    pub fn provider_db_path(&self) -> PathBuf {
        self.root.join("provider").join("provider.sqlite")
    }

    /// What `down --wipe` deletes: WAL, store, artifacts and the provider's ledger. Logs
    /// stay, they explain the past.
    pub fn wipe_targets(&self) -> [PathBuf; 4] {
        [
            self.root.join("wal"),
            self.root.join("store"),
            self.artifacts_dir(),
            self.root.join("provider"),
        ]
    }
}

/// `docker compose version` succeeds: the Compose v2 plugin is installed.
pub fn docker_compose_available() -> bool {
    std::process::Command::new("docker")
        .args(["compose", "version"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `sidefx up`.
pub async fn up(dir: &DataDir, args: &UpArgs, style: Style) -> Result<()> {
    let mode = match args.mode.requested() {
        Some(mode) => mode,
        None => {
            let mode = if docker_compose_available() {
                Mode::Docker
            } else {
                Mode::Local
            };
            let why = match mode {
                Mode::Docker => "docker compose is available",
                Mode::Local => "docker compose is not available",
            };
            println!(
                "{}",
                style.dim(&format!(
                    "mode: {mode:?} ({why}; choose with --docker or --local)"
                ))
            );
            mode
        }
    };
    match mode {
        Mode::Docker => docker::up(dir, args, style).await,
        Mode::Local => local::up(dir, args, style).await,
    }
}

/// `sidefx down`.
pub async fn down(dir: &DataDir, args: &DownArgs, style: Style) -> Result<()> {
    if args.wipe && !args.yes {
        confirm_wipe(dir)?;
    }
    let state = StackState::load(dir)?;
    match resolve_mode(args.mode, state.as_ref())? {
        Some(Mode::Docker) => docker::down(dir, args, state.as_ref(), style).await,
        Some(Mode::Local) => local::down(dir, args, state.as_ref(), style).await,
        None => {
            println!(
                "No stack recorded in {} — nothing to stop.",
                dir.root().display()
            );
            if args.wipe {
                local::wipe(dir, style)?;
            }
            Ok(())
        }
    }
}

/// The health URLs of a stack: DriftQ's and the API's, and the provider's in provider mode.
pub fn health_checks(state: &StackState) -> Vec<HealthCheck> {
    let mut checks = vec![HealthCheck {
        name: "DriftQ",
        url: format!("{}/v1/healthz", state.driftq_url),
    }];
    checks.extend(state.provider.as_ref().map(|provider| HealthCheck {
        name: "provider",
        url: format!("{}/healthz", provider.url),
    }));
    checks.push(HealthCheck {
        name: "API",
        url: format!("{}/healthz", state.api_url),
    });
    checks
}

/// Mode for commands that act on an existing stack: the flag, else the state file.
pub fn resolve_mode(flag: ModeArgs, state: Option<&StackState>) -> Result<Option<Mode>> {
    Ok(flag.requested().or(state.map(|s| s.mode)))
}

/// Like [`resolve_mode`], but a stack must be known.
pub fn require_mode(dir: &DataDir, flag: ModeArgs, state: Option<&StackState>) -> Result<Mode> {
    match resolve_mode(flag, state)? {
        Some(mode) => Ok(mode),
        None => bail!(
            "no stack recorded in {}: start one with `sidefx up`, or pass --docker for a compose \
             stack started by hand (use --data-dir if you started it elsewhere)",
            dir.root().display()
        ),
    }
}

/// Asks on the terminal before deleting data; without a terminal, refuses.
fn confirm_wipe(dir: &DataDir) -> Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        bail!("refusing to wipe without confirmation: no terminal to ask on, pass --yes");
    }
    print!(
        "This deletes the DriftQ WAL, the SQLite store, the ticket artifacts and the provider's \
         ledger of the stack in {} \
         (Docker: its volumes). Continue? [y/N] ",
        dir.root().display()
    );
    std::io::stdout()
        .flush()
        .context("cannot write the prompt")?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => bail!("aborted: nothing was stopped or deleted"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_is_absolute_and_lays_out_files() {
        let dir = DataDir::new(Path::new("some/dir")).unwrap();
        assert!(dir.root().is_absolute());
        assert!(dir.state_file().ends_with("some/dir/state.json"));
        assert!(
            dir.log_file(Service::Worker)
                .ends_with("some/dir/worker.log")
        );
        assert!(dir.wal_path().starts_with(dir.root()));
        assert!(dir.wipe_targets().iter().all(|p| p.starts_with(dir.root())));
        assert!(!dir.wipe_targets().contains(&dir.state_file()));
    }

    #[test]
    fn a_flag_beats_the_state_file() {
        let flag = ModeArgs {
            docker: true,
            local: false,
        };
        assert_eq!(resolve_mode(flag, None).unwrap(), Some(Mode::Docker));
        assert_eq!(resolve_mode(ModeArgs::default(), None).unwrap(), None);
    }
}
