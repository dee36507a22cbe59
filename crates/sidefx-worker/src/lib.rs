//! The sidefx worker: consumes `run.command`s from DriftQ and performs each side effect
//! exactly once, through crashes, redeliveries, retries and re-sent requests.
//!
//! Start reading at [`decision`] (what the exactly-once step decides) and [`step`] (how it
//! carries the decision out), then [`consume_loop`] (how
//! acks are ordered) and [`effect`] (the interface your own side effect implements).

pub mod ack_tracker;
pub mod acker;
pub mod broken_step;
pub mod chaos;
pub mod claim_watch;
pub mod config;
pub mod consume_loop;
pub mod context;
pub mod decision;
pub mod dlq_archive;
pub mod effect;
pub mod effect_failure;
pub mod failure;
pub mod heartbeat;
pub mod intake;
pub mod local_claims;
pub mod metrics_listener;
pub mod mutation;
pub mod outcome;
pub mod presence;
pub mod redrive;
pub mod retry_outbox;
pub mod retry_policy;
pub mod run_events;
pub mod step;
pub mod step_metrics;
pub mod subscription;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use driftq_client::{Client, ConsumeRequest};
use sidefx_core::telemetry::untrusted;
use sidefx_core::topics::{DLQ_ARCHIVE_GROUP, partitions_for};
use sidefx_core::{
    Artifacts, COMMANDS_TOPIC, DLQ_TOPIC, PublishError, Publisher, Store, StoreError, WorkerBeat,
    now_ms,
};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

pub use config::{EffectKind, WorkerConfig};
pub use effect::{Effect, EffectCtx, EffectError, ProviderEffect, SideEffect, TicketEffect};
pub use outcome::StepOutcome;

use crate::claim_watch::ClaimWatch;
use crate::context::StepContext;
use crate::local_claims::LocalClaims;
use crate::presence::StepsInHand;
use crate::retry_policy::RetryPolicy;
use crate::subscription::Subscription;

/// The integration guide's code compiles as a doctest (here, where both the claim table and
/// the effect interface are in scope), so the guide cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/INTEGRATE_IN_YOUR_APP.md")]
pub struct IntegrateGuide;

/// Why the worker could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The SQLite store could not be opened.
    #[error("opening the store: {0}")]
    Store(#[from] StoreError),
    /// The DriftQ URL is unusable.
    #[error("driftq client: {0}")]
    Client(#[from] driftq_client::Error),
    /// The metrics endpoint (`WORKER_METRICS_ADDR`) could not start.
    #[error("metrics endpoint: {0}")]
    Metrics(#[from] metrics_listener::MetricsListenerError),
    /// The settings contradict each other.
    #[error("configuration: {0}")]
    Config(#[from] config::ConfigError),
    /// The provider client could not be built.
    #[error("provider client: {0}")]
    Provider(#[from] sidefx_provider::client::ClientError),
    /// A background task (retry outbox, DLQ archiver, redrive sweeper) panicked.
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Why a background pass (the retry outbox, the redrive sweep) stopped early. Nothing is
/// lost: its rows stay in the store and the next pass takes them up again.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The store could not be read or a row not updated.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A command could not be published (the broker is down, most likely).
    #[error("publish: {0}")]
    Publish(#[from] PublishError),
}

/// Runs the worker until `shutdown` completes: then it stops taking messages, finishes the
/// steps in hand (and their acks) and returns `Ok(())`.
pub async fn run(
    config: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    config.validate()?;
    let effect = build_effect(&config)?;
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        info!("shutdown requested");
        let _ = stop_tx.send(true);
    });

    // First, so the metrics of the very first steps are recorded.
    let metrics = match config.metrics_addr {
        Some(addr) => Some(metrics_listener::start(addr, stop.clone()).await?),
        None => None,
    };
    let store = Store::open(&config.store.db_path).await?;
    // Visible from the start, also while it waits for the broker.
    let in_hand = StepsInHand::new();
    let presence = presence::start(
        store.clone(),
        identity(&config, effect.name()),
        config.heartbeat(),
        in_hand.clone(),
    );
    let client = Client::new(&config.driftq.driftq_http_url)?;
    let publisher = Publisher::new(client.clone());
    if !ensure_topics(&publisher, stop.clone()).await {
        presence.stop().await;
        return Ok(());
    }
    if let Some(mutation) = config.mutation {
        warn!(
            ?mutation,
            "SIDEFX_MUTATION is set: this worker is broken ON PURPOSE and repeats effects"
        );
    }
    info!(owner = %config.driftq_owner, group = %config.worker_group, lease_ms = config.lease_ms,
        claim_lease_ms = config.claim_lease_ms,
        effect = effect.name(),
        concurrency = config.concurrency, redrive_after_ms = config.redrive_after_ms,
        heartbeat_ms = config.heartbeat_ms,
        metrics_addr = ?metrics.as_ref().map(|m| m.local_addr),
        "worker started");

    let ctx = step_context(&config, effect, store.clone(), publisher.clone());
    let policy = redrive::RedrivePolicy {
        after: config.redrive_after(),
        max_redrives: config.max_redrives,
    };
    let sweeper = tokio::spawn(redrive::run(
        store.clone(),
        publisher.clone(),
        policy,
        stop.clone(),
    ));
    let outbox = tokio::spawn(retry_outbox::run(
        store.clone(),
        publisher,
        Arc::clone(&ctx.retry_wakeup),
        stop.clone(),
    ));
    let archiver = tokio::spawn(dlq_archive::run(
        store,
        client.clone(),
        subscribe(&client, &config, DLQ_TOPIC, DLQ_ARCHIVE_GROUP),
        stop.clone(),
    ));
    let commands = subscribe(&client, &config, COMMANDS_TOPIC, &config.worker_group);
    consume_loop::run(ctx, commands, config.concurrency as usize, in_hand, stop).await;
    outbox.await?;
    archiver.await?;
    sweeper.await?;
    presence.stop().await;
    if let Some(metrics) = metrics {
        metrics.stopped().await;
    }
    info!("worker stopped");
    Ok(())
}

/// The side effect `WORKER_EFFECT` names, writing its tickets under `ARTIFACTS_DIR`.
fn build_effect(config: &WorkerConfig) -> Result<Effect, WorkerError> {
    let artifacts = Artifacts::new(config.store.artifacts_dir.clone());
    Ok(match config.effect {
        EffectKind::Ticket => {
            let ticket = TicketEffect::new(artifacts, config.driftq_owner.as_str());
            #[cfg(debug_assertions)]
            let ticket = match config.mutation {
                Some(_) => ticket.without_create_only(),
                None => ticket,
            };
            Effect::new("ticket", ticket)
        }
        EffectKind::Provider => Effect::new(
            "provider",
            ProviderEffect::new(&config.provider_url, config.provider_timeout(), artifacts)?
                .with_key_retention(Duration::from_secs(config.provider_key_retention_secs)),
        ),
    })
}

/// This process as its row in the worker table shows it (the beat fills in the rest).
fn identity(config: &WorkerConfig, effect: &str) -> WorkerBeat {
    let started_ms = now_ms();
    WorkerBeat {
        owner: config.driftq_owner.clone(),
        host: config::hostname(),
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        effect: effect.to_owned(),
        heartbeat_ms: config.heartbeat_ms,
        started_ms,
        seen_ms: started_ms,
        steps_in_hand: 0,
    }
}

/// What every step shares: the store, the effect, the publisher and the settings.
fn step_context(
    config: &WorkerConfig,
    effect: Effect,
    store: Store,
    publisher: Publisher,
) -> StepContext {
    StepContext {
        store,
        effect,
        publisher,
        owner: config.driftq_owner.clone(),
        lease: config.lease(),
        claim_lease: config.claim_lease(),
        claim_watch: ClaimWatch::new(),
        retry_policy: RetryPolicy::new(
            Duration::from_millis(config.retry_base_ms),
            Duration::from_millis(config.retry_max_ms),
        ),
        local_claims: LocalClaims::new(),
        retry_wakeup: Arc::new(Notify::new()),
        mutation: config.mutation,
        chaos: config.chaos.enabled,
    }
}

/// A subscription to `topic` as this process's owner, with the configured lease.
fn subscribe(client: &Client, config: &WorkerConfig, topic: &str, group: &str) -> Subscription {
    let request =
        ConsumeRequest::new(topic, group, config.driftq_owner.as_str()).lease(config.lease());
    Subscription::new(client.clone(), request, partitions_for(topic))
}

/// Creates the commands and DLQ topics, retrying while the broker is not up yet (a worker
/// often starts before DriftQ does). Returns `false` if shutdown came first.
async fn ensure_topics(publisher: &Publisher, mut stop: watch::Receiver<bool>) -> bool {
    let mut wait = Duration::from_millis(200);
    loop {
        let result: Result<(), PublishError> = async {
            publisher.ensure_topic(COMMANDS_TOPIC).await?;
            publisher.ensure_topic(DLQ_TOPIC).await
        }
        .await;
        match result {
            Ok(()) => return true,
            Err(err) => {
                warn!(
                    error = %untrusted(&err.to_string()),
                    retry_in_ms = wait.as_millis(),
                    "cannot create topics yet; retrying",
                )
            }
        }
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return false,
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}
