//! Docker mode: the stack as the services of the project's docker-compose.yml. Each command is
//! the `docker compose` call the original Makefile made; the state file only remembers which
//! compose file and ports were used so `down`, `logs` and `demo` find the stack again.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::process::Command;

use super::effect::{EffectMode, ProviderFaults, ProviderSetup};
use super::plan::{PortName, free_port};
use super::state::StackState;
use super::{DataDir, DownArgs, Mode, Service, UpArgs};
use crate::health;
use crate::ui::Style;

/// Environment variables docker-compose.yml reads for the host ports.
const API_PORT_VAR: &str = "SIDEFX_API_PORT";
const DRIFTQ_PORT_VAR: &str = "SIDEFX_DRIFTQ_PORT";
const PROVIDER_PORT_VAR: &str = "SIDEFX_PROVIDER_PORT";
/// The variable docker-compose.yml passes to the worker as its `WORKER_EFFECT`.
const EFFECT_VAR: &str = "WORKER_EFFECT";

/// `sidefx up --docker`.
pub async fn up(dir: &DataDir, args: &UpArgs, style: Style) -> Result<()> {
    ensure_compose()?;
    if let Some(state) = StackState::load(dir)?
        && state.mode == Mode::Local
    {
        bail!(
            "a local stack is recorded in {}: stop it with `sidefx down` first, or use another --data-dir",
            dir.root().display()
        );
    }
    if args.api_port == 0 || args.driftq_port == 0 || args.provider_port == 0 {
        bail!("port 0 (pick a free port) works in local mode only: give Docker explicit ports");
    }
    // A recorded stack already holds its ports (compose up again just updates it); anything
    // else on them would make compose fail late, container by container.
    if StackState::load(dir)?.is_none() {
        free_port(args.api_port, PortName::Api)?;
        free_port(args.driftq_port, PortName::Driftq)?;
        free_port(args.provider_port, PortName::Provider)?;
    }
    let compose_file = find_compose_file(None)?;
    // The provider service always runs under compose; only a provider-mode stack charges it.
    let provider = (args.effect == EffectMode::Provider).then(|| ProviderSetup {
        url: format!("http://localhost:{}", args.provider_port),
        port: args.provider_port,
        faults: ProviderFaults::default(),
    });
    let state = StackState {
        mode: Mode::Docker,
        api_url: format!("http://localhost:{}", args.api_port),
        driftq_url: format!("http://localhost:{}", args.driftq_port),
        api_port: args.api_port,
        driftq_port: args.driftq_port,
        effect: args.effect,
        provider,
        compose_file: Some(compose_file.clone()),
        local: None,
    };
    state.save(dir)?;
    let mut up = compose(&compose_file);
    up.env(API_PORT_VAR, args.api_port.to_string())
        .env(DRIFTQ_PORT_VAR, args.driftq_port.to_string())
        .env(PROVIDER_PORT_VAR, args.provider_port.to_string())
        .env(EFFECT_VAR, args.effect.name());
    up.args(["up", "--build"]);
    let timeout = Duration::from_secs(args.timeout);
    if args.detached {
        up.arg("-d");
        check(
            up.status().await.context("cannot run docker compose")?,
            "docker compose up",
        )?;
        health::wait_all(&super::health_checks(&state), timeout, || Ok(()))
            .await
            .context("the stack did not become healthy; see `sidefx logs`")?;
        super::report::print_ready(dir, &state, style);
        return Ok(());
    }
    up_foreground(dir, &state, up, timeout, style).await
}

/// `docker compose up` in the foreground streams the logs; we print the URLs once healthy and
/// leave Ctrl-C to compose (it reaches compose directly and stops the containers).
async fn up_foreground(
    dir: &DataDir,
    state: &StackState,
    mut up: Command,
    timeout: Duration,
    style: Style,
) -> Result<()> {
    // Ignore Ctrl-C here: compose gets it too, stops the containers and exits, and we follow.
    tokio::spawn(async { while tokio::signal::ctrl_c().await.is_ok() {} });
    let mut child = up.spawn().context("cannot run docker compose")?;
    let checks = super::health_checks(state);
    tokio::select! {
        status = child.wait() => {
            StackState::remove(dir)?;
            return check(status?, "docker compose up");
        }
        healthy = health::wait_all(&checks, timeout, || Ok(())) => {
            match healthy {
                Ok(()) => super::report::print_ready(dir, state, style),
                Err(e) => eprintln!("{} {e:#}", style.warn("warning:")),
            }
        }
    }
    let status = child.wait().await?;
    StackState::remove(dir)?;
    check(status, "docker compose up")
}

/// `sidefx down --docker`: `docker compose down`, `-v` to wipe, `--rmi local` to prune images.
pub async fn down(
    dir: &DataDir,
    args: &DownArgs,
    state: Option<&StackState>,
    style: Style,
) -> Result<()> {
    ensure_compose()?;
    let file = find_compose_file(state)?;
    let mut down = compose(&file);
    down.arg("down");
    if args.wipe {
        down.arg("-v");
    }
    if args.prune_images {
        down.args(["--rmi", "local"]);
    }
    check(
        down.status().await.context("cannot run docker compose")?,
        "docker compose down",
    )?;
    StackState::remove(dir)?;
    println!("{} Stack is down.", style.ok("✔"));
    Ok(())
}

/// `docker compose logs [-f] [--tail N] [--since D] [service]`.
pub async fn logs(
    state: Option<&StackState>,
    service: Option<Service>,
    follow: bool,
    select: &[String],
) -> Result<()> {
    ensure_compose()?;
    let mut logs = compose(&find_compose_file(state)?);
    logs.arg("logs").args(select);
    if follow {
        logs.arg("-f");
        tokio::spawn(async { while tokio::signal::ctrl_c().await.is_ok() {} });
    }
    logs.args(service.map(Service::name));
    check(
        logs.status().await.context("cannot run docker compose")?,
        "docker compose logs",
    )
}

/// `docker compose kill -s SIGKILL worker`.
pub async fn kill_worker(state: Option<&StackState>) -> Result<()> {
    ensure_compose()?;
    let mut kill = compose(&find_compose_file(state)?);
    kill.args(["kill", "-s", "SIGKILL", Service::Worker.name()]);
    check(
        kill.status().await.context("cannot run docker compose")?,
        "docker compose kill",
    )
}

/// `docker compose -f <file>` (the project directory is the file's directory, so its `.env` applies).
fn compose(file: &Path) -> Command {
    let mut command = Command::new("docker");
    command.arg("compose").arg("-f").arg(file);
    command
}

fn ensure_compose() -> Result<()> {
    if super::docker_compose_available() {
        return Ok(());
    }
    bail!(
        "`docker compose` is not available: install Docker with the Compose plugin, or use --local"
    )
}

fn check(status: ExitStatus, what: &str) -> Result<()> {
    if status.success() {
        Ok(())
    } else {
        bail!("{what} failed ({status})")
    }
}

/// The recorded compose file, else docker-compose.yml in the current directory or above.
fn find_compose_file(state: Option<&StackState>) -> Result<PathBuf> {
    if let Some(file) = state.and_then(|s| s.compose_file.clone()) {
        return Ok(file);
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    compose_file_above(&cwd).with_context(|| {
        format!(
            "no docker-compose.yml in {} or above: run sidefx inside the sidefx checkout",
            cwd.display()
        )
    })
}

fn compose_file_above(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join("docker-compose.yml"))
        .find(|file| file.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_compose_file_in_a_parent_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let nested = tmp.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        assert_eq!(compose_file_above(&nested), None);
        std::fs::write(tmp.path().join("docker-compose.yml"), "services: {}\n").unwrap();
        assert_eq!(
            compose_file_above(&nested),
            Some(tmp.path().join("docker-compose.yml"))
        );
    }

    #[test]
    fn compose_commands_name_the_file() {
        let command = compose(Path::new("/p/docker-compose.yml"));
        let args: Vec<_> = command
            .as_std()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args, ["compose", "-f", "/p/docker-compose.yml"]);
    }
}
