//! Waiting for health checks: poll each URL until it answers 2xx, with a deadline, a spinner
//! that says what is still missing, and an early exit when the thing we wait for has died.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::ui::Spinner;

/// How often the health URLs are polled.
const POLL: Duration = Duration::from_millis(250);

/// A URL that answers 2xx when its service is ready.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    /// Shown to the user ("DriftQ", "API").
    pub name: &'static str,
    /// Full URL, e.g. `http://127.0.0.1:8000/healthz`.
    pub url: String,
}

/// A client for short probes: one slow answer must not eat the whole deadline.
pub fn probe_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(3))
        .build()?)
}

/// `Ok` when the URL answers 2xx; otherwise why not, in a few words.
pub async fn probe(client: &reqwest::Client, url: &str) -> Result<(), String> {
    match client.get(url).send().await {
        Ok(resp) if resp.status().is_success() => Ok(()),
        Ok(resp) => Err(format!("HTTP {}", resp.status().as_u16())),
        Err(e) if e.is_connect() => Err("connection refused".to_owned()),
        Err(e) if e.is_timeout() => Err("timed out".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// Polls every check until all pass. Fails at `timeout`, or as soon as `alive` reports an error
/// (a process we started has exited, so waiting longer is pointless).
pub async fn wait_all(
    checks: &[HealthCheck],
    timeout: Duration,
    mut alive: impl FnMut() -> Result<()>,
) -> Result<()> {
    let client = probe_client()?;
    let names: Vec<_> = checks.iter().map(|c| c.name).collect();
    let mut spinner = Spinner::start(format!("waiting for {}", names.join(" and ")));
    let deadline = Instant::now() + timeout;
    loop {
        if let Err(e) = alive() {
            spinner.finish();
            return Err(e);
        }
        let mut missing = Vec::new();
        for check in checks {
            if let Err(why) = probe(&client, &check.url).await {
                missing.push(format!("{} {}: {why}", check.name, check.url));
            }
        }
        if missing.is_empty() {
            spinner.finish();
            return Ok(());
        }
        if Instant::now() >= deadline {
            spinner.finish();
            bail!(
                "not healthy after {}s — {}",
                timeout.as_secs(),
                missing.join("; ")
            );
        }
        spinner.tick(&missing.join("; "));
        tokio::time::sleep(POLL).await;
    }
}
