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
