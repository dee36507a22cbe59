//! Finding the service binaries for local mode: next to `sidefx` (one cargo target directory
//! holds them all), built on demand when `sidefx` runs inside the workspace.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::effect::EffectMode;
use super::state::Binaries;

/// The cargo packages of the service binaries (each package's binary has its name).
const PACKAGES: [&str; 4] = [
    "driftq-local",
    "sidefx-api",
    "sidefx-worker",
    "sidefx-provider",
];

/// The service binaries sit next to `sidefx` (same cargo target directory); `sidefx-provider`
/// is needed in provider mode only. If one is missing and we are inside the workspace, build
/// them; otherwise say how.
pub fn locate_binaries(effect: EffectMode) -> Result<Binaries> {
    let exe = std::env::current_exe().context("cannot find the sidefx executable")?;
    let bin_dir = exe
        .parent()
        .context("the sidefx executable has no directory")?;
    let path = |name: &str| bin_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let binaries = Binaries {
        driftq: path("driftq-local"),
        api: path("sidefx-api"),
        worker: path("sidefx-worker"),
        provider: (effect == EffectMode::Provider).then(|| path("sidefx-provider")),
    };
    let missing = || {
        [&binaries.driftq, &binaries.api, &binaries.worker]
            .into_iter()
            .chain(&binaries.provider)
            .filter(|p| !p.is_file())
            .count()
    };
    if missing() == 0 {
        return Ok(binaries);
    }
    if let Some(workspace) = find_workspace() {
        build_binaries(&workspace, bin_dir)?;
        if missing() == 0 {
            return Ok(binaries);
        }
    }
    bail!(
        "driftq-local, sidefx-api, sidefx-worker (and sidefx-provider) must be next to {}: build them with \
         `cargo build --workspace --bins` (use --release for both if you run a release sidefx)",
        exe.display()
    )
}

/// The nearest directory upwards with a Cargo.toml that declares this workspace.
fn find_workspace() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|toml| {
                toml.contains("[workspace]") && dir.join("crates/sidefx-api").is_dir()
            })
        })
        .map(Path::to_path_buf)
}

fn build_binaries(workspace: &Path, bin_dir: &Path) -> Result<()> {
    let release = bin_dir.file_name().is_some_and(|name| name == "release");
    println!("Building {} (cargo build --bins) …", PACKAGES.join(", "));
    let mut cargo =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.current_dir(workspace).args(["build", "--bins"]);
    for package in PACKAGES {
        cargo.args(["-p", package]);
    }
    if release {
        cargo.arg("--release");
    }
    let status = cargo.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    Ok(())
}
