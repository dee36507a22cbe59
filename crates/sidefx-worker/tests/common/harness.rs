//! The step-test harness: driftq-local in-process, a temp store and ticket artifacts, and
//! step contexts over them, so a test can call the step on one message.

use std::sync::Arc;
use std::time::Duration;

use driftq_client::Client;
use sidefx_core::{Artifacts, Publisher, Store};
use sidefx_worker::claim_watch::ClaimWatch;
use sidefx_worker::local_claims::LocalClaims;
use sidefx_worker::retry_policy::RetryPolicy;
use sidefx_worker::step::StepContext;
use sidefx_worker::{Effect, TicketEffect};
use tempfile::TempDir;
use tokio::sync::Notify;

/// A broker, a store and artifacts in one temp dir, kept alive as long as the harness.
pub struct Harness {
    _dir: TempDir,
    _broker: driftq_local::Broker,
    /// A client of the in-process broker.
    pub client: Client,
    /// The store every context of this harness shares, as workers share one database.
    pub store: Store,
    /// Where the ticket effect writes, and its ledger of executions.
    pub artifacts: Artifacts,
}

impl Harness {
    /// Starts driftq-local and opens a fresh store and artifacts directory.
    pub async fn start() -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = sidefx_testkit::spawn_broker(dir.path()).await;
        Harness {
            client: Client::new(&broker.base_url()).expect("client"),
            store: Store::open(&dir.path().join("db.sqlite"))
                .await
                .expect("store"),
            artifacts: Artifacts::new(dir.path().join("artifacts")),
            _broker: broker,
            _dir: dir,
        }
    }

    /// A step context as worker `owner` (each gets its own process-local claim set), with
    /// the ticket effect and a claim lease long enough that no test waits for it. Chaos
    /// switches are honoured; set `chaos: false` on the result to test them ignored.
    pub fn ctx(&self, owner: &str) -> StepContext {
        self.ctx_with(
            owner,
            Duration::from_secs(30),
            Effect::new("ticket", TicketEffect::new(self.artifacts.clone(), owner)),
        )
    }

    /// A step context as worker `owner` with this claim lease and effect.
    pub fn ctx_with(&self, owner: &str, claim_lease: Duration, effect: Effect) -> StepContext {
        StepContext {
            store: self.store.clone(),
            effect,
            publisher: Publisher::new(self.client.clone()),
            owner: owner.to_owned(),
            lease: Duration::from_secs(30),
            claim_lease,
            claim_watch: ClaimWatch::new(),
            retry_policy: RetryPolicy::new(Duration::from_millis(200), Duration::from_millis(1000)),
            local_claims: LocalClaims::new(),
            retry_wakeup: Arc::new(Notify::new()),
            mutation: None,
            chaos: true,
        }
    }

    /// Executions of the ticket effect, from its ledger (not from files, which the
    /// create-only link caps at one whatever the step does).
    pub async fn executions(&self) -> usize {
        self.artifacts.read_ledger().await.expect("ledger").len()
    }
}
