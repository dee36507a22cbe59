//! The dead-letter archiver: consumes `sidefx.dlq` in its own group, stores each record in
//! SQLite (what `/debug/dlq` shows), then acks it.
//!
//! Why it must exist: DriftQ never deletes messages and refuses the 101st unacked message
//! of a partition (Q15), so a DLQ nobody acks jams after 100 dead letters. Acking after the
//! insert (which is idempotent by the record's key) means a crash in between only archives
//! the same record twice, which the insert ignores.

use driftq_client::{Client, Message};
use sidefx_core::telemetry::untrusted;
use sidefx_core::{DlqRecord, Store};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::acker;
use crate::subscription::Subscription;

/// Archives dead letters until `shutdown` turns true. Handles one record at a time, so acks
/// go out in delivery order.
pub async fn run(
    store: Store,
    client: Client,
    mut subscription: Subscription,
    mut shutdown: watch::Receiver<bool>,
) {
    let request = subscription.request().clone();
    loop {
        let msg = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            msg = subscription.next() => msg,
        };
        if archive(&store, &msg).await {
            acker::ack(&client, &request.ack_target(&msg)).await;
        }
    }
    info!("dlq archiver stopped");
}

/// Stores one DLQ message; returns whether it may be acked.
async fn archive(store: &Store, msg: &Message) -> bool {
    let record = match serde_json::from_str::<DlqRecord>(&msg.value) {
        Ok(record) => record,
        Err(err) => {
            // Not ours (someone produced to sidefx.dlq by hand). Ack it so it cannot jam the
            // topic; it stays readable in the topic's log.
            error!(partition = msg.partition, offset = msg.offset, error = %untrusted(&err.to_string()), value = %untrusted(&msg.value),
                "dlq archive: undecodable record acked without archiving");
            return true;
        }
    };
    match store.archive_dead_letter(&record).await {
        Ok(new) => {
            info!(
                run_id = %record.run_id,
                key = %record.idempotency_key(),
                new,
                "dead letter archived",
            );
            true
        }
        Err(err) => {
            warn!(
                run_id = %record.run_id,
                error = %untrusted(&err.to_string()),
                "dlq archive: store failed; not acking, DriftQ will redeliver",
            );
            false
        }
    }
}
