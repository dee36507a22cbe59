//! A provider-mode local stack end to end with the real binaries: `up --effect provider`
//! starts the provider, the crash demo shows its charge and recovery path, `verify` compares
//! the store with the provider's ledger and catches a charge that no effect made, and
//! `down --wipe` deletes the provider's ledger too.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{StacksDir, require_provider_binary, text};

/// Longest any single `sidefx` command of this test may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);

fn sidefx(dir: &Path, args: &[&str]) -> std::process::Output {
    common::sidefx(dir, args, COMMAND_TIMEOUT)
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The provider URL recorded in the stack's state file.
fn provider_url(dir: &Path) -> String {
    let state = std::fs::read_to_string(dir.join("state.json")).expect("a state file");
    let state: serde_json::Value = serde_json::from_str(&state).expect("state.json is JSON");
    assert_eq!(state["effect"], "provider", "{state}");
    state["provider"]["url"]
        .as_str()
        .expect("a provider URL")
        .to_owned()
}

/// A charge made straight at the provider, by no effect of the stack.
fn stray_charge(provider: &str, reference: &str) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{provider}/v1/charges"))
            .header("Idempotency-Key", format!("stray:{reference}"))
            .json(&serde_json::json!({"amount": 100, "currency": "usd", "reference": reference}))
            .send()
            .await
            .expect("POST /v1/charges")
            .status()
    });
    assert!(status.is_success(), "stray charge: {status}");
}

#[test]
fn a_provider_stack_charges_once_and_verify_catches_a_stray_charge() {
    require_provider_binary();
    let stacks = StacksDir::new();
    let dir = stacks.path();
    #[rustfmt::skip]
    let up = sidefx(dir, &[
        "up", "--local", "--detached", "--effect", "provider",
        "--api-port", "0", "--driftq-port", "0", "--provider-port", "0",
    ]);
    assert!(up.status.success(), "{}", text(&up));
    let provider = provider_url(dir);
    let status = sidefx(dir, &["status"]);
    assert!(stdout(&status).contains("provider"), "{}", text(&status));

    let demo = sidefx(dir, &["demo", "crash", "--timeout", "60"]);
    assert!(demo.status.success(), "{}", text(&demo));
    let out = stdout(&demo);
    for expected in [
        "exactly once: 1 row, 1 ticket",
        "receipt: charge ch_",
        "charges at the provider for",
        "recovery path: skipped",
        "charged exactly once",
    ] {
        assert!(
            out.contains(expected),
            "missing {expected:?}: {}",
            text(&demo)
        );
    }

    let clean = sidefx(dir, &["verify"]);
    assert!(clean.status.success(), "{}", text(&clean));
    assert!(
        stdout(&clean).contains("provider: clean"),
        "{}",
        text(&clean)
    );

    stray_charge(&provider, "stray-order");
    let caught = sidefx(dir, &["verify"]);
    assert_eq!(caught.status.code(), Some(1), "{}", text(&caught));
    let out = stdout(&caught);
    assert!(
        out.contains("charge_without_done_effect") && out.contains("stray-order"),
        "{}",
        text(&caught)
    );

    let down = sidefx(dir, &["down", "--wipe", "--yes"]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(
        !dir.join("provider").exists(),
        "the provider's ledger is wiped"
    );
    assert!(dir.join("provider.log").is_file(), "its log stays");
}
