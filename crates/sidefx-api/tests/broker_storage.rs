//! A broker whose disk is full: `POST /runs` still accepts runs (they wait in the API's run
//! outbox, on its own disk), `/healthz` says `ok: false` with `driftq.status: degraded`, and
//! once the disk has space the waiting runs are published and health recovers. The broker's WAL lives on a small tmpfs, which needs root to mount (CI runs as
//! root); elsewhere the test is skipped with a message saying so.

#![cfg(target_os = "linux")]

mod common;

use std::io::Write;
use std::process::Command;

use common::{ApiServer, api_config};
use driftq_local::BrokerConfig;
use sidefx_core::Store;
use sidefx_testkit::poll_until;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
    })
}

/// Unmounts the tmpfs when the test ends, however it ends.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[expect(
    clippy::print_stderr,
    reason = "a skipped test says so in the test output"
)]
#[tokio::test]
async fn runs_accepted_while_the_brokers_disk_is_full_are_published_once_it_has_space() {
    if !is_root() {
        eprintln!(
            "SKIPPED runs_accepted_while_the_brokers_disk_is_full_are_published_once_it_has_space: \
             mounting a tmpfs needs root"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(disk.path())
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "mount -t tmpfs failed although running as root"
    );
    let _unmount = Unmount(disk.path().to_path_buf());
    let broker = driftq_local::spawn(BrokerConfig::ephemeral(disk.path().join("driftq.wal")))
        .await
        .unwrap();
    let api = ApiServer::start(&api_config(&broker.base_url(), dir.path())).await;
    let http = reqwest::Client::new();
    let run = |key: &str| {
        http.post(api.url("/runs"))
            .json(&serde_json::json!({"business_key": key}))
            .send()
    };
    assert_eq!(run("before").await.unwrap().status(), 200);

    let filler = disk.path().join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    while file.write_all(&[0u8; 4096]).is_ok() {}
    drop(file);
    // Every run is accepted: the API stores it, whatever the broker's disk says. The first
    // failed WAL write may still fit the log's last page, so post until the broker says so.
    let health = |http: reqwest::Client| {
        let url = api.url("/healthz");
        async move {
            let response = http.get(url).send().await.unwrap();
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    let mut n = 0;
    poll_until(
        "a degraded health while the disk is full",
        common::DEADLINE,
        || {
            n += 1;
            let (http, during) = (http.clone(), run(&format!("during-{n}")));
            async move {
                assert_eq!(during.await.unwrap().status(), 200);
                let health = health(http).await;
                (health["status"] == "degraded").then_some(())
            }
        },
    )
    .await;
    assert_eq!(
        health(http.clone()).await,
        serde_json::json!({"ok": false, "status": "degraded", "driftq": {"status": "degraded"}})
    );
    let store = Store::open(&dir.path().join("side_effects.sqlite"))
        .await
        .unwrap();
    assert!(
        store.pending_run_count().await.unwrap() >= 1,
        "a run waits in the outbox"
    );

    std::fs::remove_file(filler).unwrap();
    poll_until("the run outbox to be empty", common::DEADLINE, || async {
        (store.pending_run_count().await.unwrap() == 0).then_some(())
    })
    .await;
    assert_eq!(run("after").await.unwrap().status(), 200);
    let recovered = poll_until("health to be ok again", common::DEADLINE, || async {
        let health = health(http.clone()).await;
        (health["status"] == "ok").then_some(health)
    })
    .await;
    assert_eq!(
        recovered,
        serde_json::json!({"ok": true, "status": "ok", "driftq": {"status": "ok"}})
    );
    api.stop().await;
    broker.shutdown().await;
}
