//! An installed `sidefx` (`cargo install --path crates/sidefx-cli`) sits alone in its
//! directory: it must find the service binaries on `PATH`. The test copies `sidefx` alone to
//! a temp dir, puts the directory of the others on `PATH`, and starts a stack from elsewhere.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{SIDEFX, StacksDir, require_service_binaries, text};

#[test]
fn an_installed_sidefx_finds_the_services_on_path() {
    require_service_binaries();
    let install = tempfile::tempdir().expect("temp dir");
    let sidefx = install.path().join("sidefx");
    std::fs::copy(SIDEFX, &sidefx).expect("copy sidefx");
    let services = Path::new(SIDEFX).parent().expect("target dir");
    let path = std::env::join_paths([services.to_path_buf()].into_iter().chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let stacks = StacksDir::new();
    let run = |args: &[&str]| {
        let mut command = Command::new(&sidefx);
        command
            .current_dir(stacks.path())
            .env("PATH", &path)
            .arg("--data-dir")
            .arg(stacks.path());
        common::run(command, args, Duration::from_secs(180))
    };
    let up = run(common::UP_LOCAL_ON_FREE_PORTS);
    assert!(up.status.success(), "{}", text(&up));
    let state = std::fs::read_to_string(stacks.path().join("state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let api = state["local"]["binaries"]["api"].as_str().unwrap();
    assert_eq!(Path::new(api), services.join("sidefx-api"), "found on PATH");
    let down = run(&["down"]);
    assert!(down.status.success(), "{}", text(&down));

    // Without them on PATH, the error says how to install them.
    let mut command = Command::new(&sidefx);
    command
        .current_dir(stacks.path())
        .env("PATH", "/nonexistent");
    command.arg("--data-dir").arg(stacks.path());
    let up = common::run(
        command,
        common::UP_LOCAL_ON_FREE_PORTS,
        Duration::from_secs(60),
    );
    assert!(!up.status.success());
    assert!(
        String::from_utf8_lossy(&up.stderr).contains("cargo install --path crates/sidefx-api"),
        "{}",
        text(&up)
    );
}
