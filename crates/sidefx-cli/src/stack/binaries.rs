//! Finding the service binaries for local mode: next to `sidefx` (one cargo target directory
//! holds them all), built on demand when `sidefx` runs inside the workspace.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::Service;
use super::state::Binaries;

/// The service binaries sit next to `sidefx` (same cargo target directory). If they are
/// missing and we are inside the workspace, build them; otherwise say how.
pub fn locate_binaries() -> Result<Binaries> {
    let exe = std::env::current_exe().context("cannot find the sidefx executable")?;
    let bin_dir = exe
        .parent()
        .context("the sidefx executable has no directory")?;
    let binaries = Binaries {
        driftq: bin_dir.join(format!("driftq-local{}", std::env::consts::EXE_SUFFIX)),
        api: bin_dir.join(format!("sidefx-api{}", std::env::consts::EXE_SUFFIX)),
        worker: bin_dir.join(format!("sidefx-worker{}", std::env::consts::EXE_SUFFIX)),
    };
    let missing = || {
        Service::ALL
            .iter()
            .filter(|s| !binaries.of(**s).is_file())
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
        "driftq-local, sidefx-api and sidefx-worker must be next to {}: build them with \
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
    println!("Building driftq-local, sidefx-api and sidefx-worker (cargo build --bins) …");
    let mut cargo =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.current_dir(workspace).args([
        "build",
        "--bins",
        "-p",
        "driftq-local",
        "-p",
        "sidefx-api",
        "-p",
        "sidefx-worker",
    ]);
    if release {
        cargo.arg("--release");
    }
    let status = cargo.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    Ok(())
}
