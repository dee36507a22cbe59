//! `sidefx verify` without a stack: exit code 2 and a hint, never a verdict.

mod common;

use std::time::Duration;

use common::{StacksDir, sidefx, text};

#[test]
fn an_unreachable_api_exits_2() {
    let stacks = StacksDir::new();
    let api = common::unreachable_api();
    let out = sidefx(
        stacks.path(),
        &["verify", "--api", &api],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("connection refused") && stderr.contains("--api"),
        "{}",
        text(&out)
    );
}

/// A stack whose API was started with `API_ADMIN_TOKEN`: `sidefx verify` is refused
/// without the token and answered with it (`--admin-token`, or the same variable).
#[test]
fn verify_sends_the_admin_token_of_a_locked_api() {
    common::require_service_binaries();
    let stacks = StacksDir::new();
    let locked = |args: &[&str]| {
        let mut command = std::process::Command::new(common::SIDEFX);
        command
            .arg("--data-dir")
            .arg(stacks.path())
            .env("API_ADMIN_TOKEN", "s3cret");
        common::run(command, args, Duration::from_secs(90))
    };
    let up = locked(common::UP_LOCAL_ON_FREE_PORTS);
    assert!(up.status.success(), "{}", text(&up));
    let refused = sidefx(stacks.path(), &["verify"], Duration::from_secs(30));
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("401"), "{}", text(&refused));
    let answered = sidefx(
        stacks.path(),
        &["verify", "--admin-token", "s3cret"],
        Duration::from_secs(30),
    );
    assert!(answered.status.success(), "{}", text(&answered));
    assert!(text(&answered).contains("clean"), "{}", text(&answered));
}
