//! `.env` in the working directory configures `sidefx` and the services, as it configures
//! docker compose, and a variable set in the real environment wins over it. Each binary is
//! run in a temp dir holding a `.env`; a value only one of the two sources has shows which won.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{SIDEFX, require_provider_binary};

/// Runs `program` in `cwd` with `env` added (and `NO_COLOR`); `args` after it.
fn run_in(cwd: &Path, program: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(program);
    command
        .current_dir(cwd)
        .args(args)
        .env_remove("SIDEFX_DATA_DIR")
        .env_remove("LOG_FORMAT")
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    common::run(command, &[], std::time::Duration::from_secs(30))
}

#[test]
fn sidefx_reads_dotenv_and_the_environment_wins() {
    let cwd = tempfile::tempdir().expect("temp dir");
    std::fs::write(cwd.path().join(".env"), "SIDEFX_DATA_DIR=from-dotenv\n").unwrap();
    let status = run_in(cwd.path(), Path::new(SIDEFX), &["status"], &[]);
    let out = common::text(&status);
    assert!(out.contains("from-dotenv"), "{out}");

    let env = [("SIDEFX_DATA_DIR", "from-environment")];
    let status = run_in(cwd.path(), Path::new(SIDEFX), &["status"], &env);
    let out = common::text(&status);
    assert!(
        out.contains("from-environment") && !out.contains("from-dotenv"),
        "{out}"
    );
}

/// Every service reads `LOG_FORMAT` at start; an invalid value makes it exit at once with
/// an error quoting the value, which tells where the value came from.
#[test]
fn every_service_reads_dotenv_and_the_environment_wins() {
    require_provider_binary();
    let cwd = tempfile::tempdir().expect("temp dir");
    std::fs::write(cwd.path().join(".env"), "LOG_FORMAT=dotenv-format\n").unwrap();
    for name in ["sidefx-api", "sidefx-worker", "sidefx-provider"] {
        let binary = Path::new(SIDEFX).with_file_name(name);
        let from_file = run_in(cwd.path(), &binary, &[], &[]);
        assert!(
            !from_file.status.success(),
            "{name}: {}",
            common::text(&from_file)
        );
        assert!(
            common::text(&from_file).contains("dotenv-format"),
            "{name} did not read .env: {}",
            common::text(&from_file)
        );
        let env = [("LOG_FORMAT", "environment-format")];
        let from_env = run_in(cwd.path(), &binary, &[], &env);
        let out = common::text(&from_env);
        assert!(
            out.contains("environment-format") && !out.contains("dotenv-format"),
            "{name}: the environment must win over .env: {out}"
        );
    }
}
