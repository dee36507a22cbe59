//! The retry publisher: publishes retry commands from the store's outbox to
//! `sidefx.commands` once they are due, then deletes them. This is how backoff is applied
//! without holding a DriftQ in-flight slot, and why a scheduled retry survives crashes.
//!
//! Every worker process runs one. Two of them publishing the same row is harmless: the retry
//! command carries its idempotency key (`cmd:…:a<n>`) and the broker drops the duplicate.

use std::sync::Arc;
use std::time::Duration;

use sidefx_core::telemetry::untrusted;
use sidefx_core::{Command, Publisher, ScheduledRetry, Store, now_ms};
use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};

use crate::PassError;

/// How often to look for rows scheduled by *other* processes (ours wake us up directly).
const POLL: Duration = Duration::from_secs(1);
/// Rows published per batch.
const BATCH: u32 = 100;
/// Longest wait after failures (broker or database unavailable).
const MAX_ERROR_BACKOFF: Duration = Duration::from_secs(10);

/// Publishes due retries until `shutdown` turns true. `wakeup` is notified by steps that
/// schedule a retry, so a short backoff is not rounded up to the poll interval.
pub async fn run(
    store: Store,
    publisher: Publisher,
    wakeup: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    loop {
        let wait = match publish_due(&store, &publisher).await {
            Ok(()) => {
                failures = 0;
                until_next_due(&store).await
            }
            Err(err) => {
                failures = failures.saturating_add(1);
                let wait = (POLL * failures).min(MAX_ERROR_BACKOFF);
                warn!(
                    error = %untrusted(&err.to_string()),
                    retry_in_ms = wait.as_millis(),
                    "retry outbox: publishing failed; rows kept",
                );
                wait
            }
        };
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            () = wakeup.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
    info!("retry outbox stopped");
}

/// Publishes every row that is due now, oldest first.
async fn publish_due(store: &Store, publisher: &Publisher) -> Result<(), PassError> {
    loop {
        let due = store.due_retries(now_ms(), BATCH).await?;
        for row in &due {
            publish_one(store, publisher, row).await?;
        }
        if due.len() < BATCH as usize {
            return Ok(());
        }
    }
}

/// Publishes one row, then deletes it. Publish first, delete second: a crash in between
/// publishes it again later, which the broker deduplicates by key; the other order could
/// lose the retry.
async fn publish_one(
    store: &Store,
    publisher: &Publisher,
    row: &ScheduledRetry,
) -> Result<(), PassError> {
    match serde_json::from_str::<Command>(&row.command_json) {
        Ok(Command::Run(cmd)) => {
            publisher.command(&cmd).await?;
            info!(key = %row.key, run_id = %row.run_id, attempt = cmd.attempt,
                late_ms = now_ms() - row.due_ms, "retry published");
        }
        Err(err) => {
            // Only this crate writes the outbox, so this means a schema change between
            // versions. It can never be published; log it in full (nothing is lost) and drop it.
            error!(
                key = %row.key,
                run_id = %row.run_id,
                error = %untrusted(&err.to_string()),
                command_json = %row.command_json,
                "retry outbox: undecodable row dropped",
            );
        }
    }
    store.retry_published(&row.key).await?;
    Ok(())
}

/// How long to sleep: until the next row is due, but at most [`POLL`].
async fn until_next_due(store: &Store) -> Duration {
    match store.next_retry_due_ms().await {
        Ok(Some(due_ms)) => {
            let ms = u64::try_from(due_ms.saturating_sub(now_ms())).unwrap_or(0);
            Duration::from_millis(ms).min(POLL)
        }
        Ok(None) => POLL,
        Err(err) => {
            warn!(error = %untrusted(&err.to_string()), "retry outbox: cannot read the next due time");
            POLL
        }
    }
}
