//! `shutdown_signal` waits, then completes on SIGTERM (sent to this test process by its
//! PID). One test per file: the signal reaches every listener of the process.

#![cfg(unix)]

use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};

#[tokio::test]
async fn sigterm_completes_the_shutdown_signal() {
    // Installed first, so a SIGTERM that arrives before `shutdown_signal` listens is caught
    // here instead of ending the test process.
    let _caught = signal(SignalKind::terminate()).unwrap();
    let shutdown = tokio::spawn(sidefx_core::shutdown_signal());
    let early = tokio::time::timeout(Duration::from_millis(100), async {
        while !shutdown.is_finished() {
            tokio::task::yield_now().await;
        }
    });
    assert!(early.await.is_err(), "completed without a signal");
    let pid = std::process::id().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    // The spawned listener may not be installed yet: signal until it reacts.
    while !shutdown.is_finished() {
        assert!(
            Instant::now() < deadline,
            "SIGTERM did not complete the shutdown signal"
        );
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let _ = tokio::time::timeout(Duration::from_millis(100), async {
            while !shutdown.is_finished() {
                tokio::task::yield_now().await;
            }
        })
        .await;
    }
    shutdown.await.unwrap();
}
