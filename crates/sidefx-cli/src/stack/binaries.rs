//! Finding the service binaries for local mode: next to `sidefx` (one cargo target directory
//! or `cargo install` root holds them all), else on `PATH`; built on demand when a `sidefx`
//! of the workspace's own target directory runs inside it.

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

/// Finds the service binaries: next to `sidefx` (one cargo target directory, or one
/// `cargo install` directory, holds them all), else on `PATH`; `sidefx-provider` is needed in
/// provider mode only. If some are missing and `sidefx` runs from a target directory of the
/// workspace it is in, they are built (an installed `sidefx` builds nothing); otherwise the error says how to install them.
pub fn locate_binaries(effect: EffectMode) -> Result<Binaries> {
    let exe = std::env::current_exe().context("cannot find the sidefx executable")?;
    let bin_dir = exe
        .parent()
        .context("the sidefx executable has no directory")?;
    let mut binaries = find_all(bin_dir, effect);
    if binaries.is_err()
        && in_cargo_target_dir(bin_dir)
        && let Some(workspace) = find_workspace()
    {
        build_binaries(&workspace, bin_dir)?;
        binaries = find_all(bin_dir, effect);
    }
    binaries.map_err(|missing| {
        anyhow::anyhow!(
            "{} not found next to {} or on PATH: inside the checkout, build them with \
             `cargo build --workspace --bins` (--release for a release sidefx); elsewhere \
             install each one: {}",
            missing.join(", "),
            exe.display(),
            missing
                .iter()
                .map(|name| format!("`cargo install --path crates/{name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// Every binary the stack needs, or the names of those that are nowhere to be found.
fn find_all(bin_dir: &Path, effect: EffectMode) -> Result<Binaries, Vec<&'static str>> {
    let mut missing = Vec::new();
    let mut find = |name: &'static str| {
        let found = find_binary(name, bin_dir, std::env::var_os("PATH").as_deref());
        if found.is_none() {
            missing.push(name);
        }
        found.unwrap_or_default()
    };
    let binaries = Binaries {
        driftq: find("driftq-local"),
        api: find("sidefx-api"),
        worker: find("sidefx-worker"),
        provider: (effect == EffectMode::Provider).then(|| find("sidefx-provider")),
    };
    if missing.is_empty() {
        Ok(binaries)
    } else {
        Err(missing)
    }
}

/// `name` in `bin_dir`, else in the first directory of `path` (a `PATH` value) that has it.
/// Absolute, because the supervisor records it to recognise its processes later.
fn find_binary(name: &str, bin_dir: &Path, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    std::iter::once(bin_dir.to_path_buf())
        .chain(path.map(std::env::split_paths).into_iter().flatten())
        .map(|dir| dir.join(&file))
        .find(|candidate| candidate.is_file())
        .and_then(|found| std::path::absolute(found).ok())
}

/// `dir` is a profile directory (`debug`, `release`) of a cargo target directory, which
/// cargo marks with `CACHEDIR.TAG`: building there puts the binaries next to `sidefx`.
fn in_cargo_target_dir(dir: &Path) -> bool {
    dir.parent()
        .is_some_and(|target| target.join("CACHEDIR.TAG").is_file())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_next_to_sidefx_wins_over_path() {
        let (here, elsewhere) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let name = format!("sidefx-api{}", std::env::consts::EXE_SUFFIX);
        std::fs::write(elsewhere.path().join(&name), "").unwrap();
        let path = std::env::join_paths([elsewhere.path()]).unwrap();
        let found = find_binary("sidefx-api", here.path(), Some(&path));
        assert_eq!(found, Some(elsewhere.path().join(&name)), "found on PATH");
        std::fs::write(here.path().join(&name), "").unwrap();
        let found = find_binary("sidefx-api", here.path(), Some(&path));
        assert_eq!(found, Some(here.path().join(&name)), "next to sidefx first");
        assert_eq!(find_binary("driftq-local", here.path(), Some(&path)), None);
    }
}
