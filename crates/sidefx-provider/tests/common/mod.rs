//! Shared helpers for the integration tests: an in-process provider on 127.0.0.1 port 0 with
//! a temp database, a manual clock and fault rates the test can change while it serves.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sidefx_provider::wire::{Charge, ChargeRequest, Ledger};
use sidefx_provider::{
    AppState, ChargeReply, Clock, FaultRates, Faults, ManualClock, ProviderClient, Store,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Retention used by in-process providers (Stripe's 24 h).
pub const RETENTION: Duration = Duration::from_secs(86_400);

/// A running in-process provider.
pub struct TestProvider {
    pub client: ProviderClient,
    pub base_url: String,
    pub faults: Faults,
    pub clock: ManualClock,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestProvider {
    /// Stops serving and waits until the server task ended.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// POSTs a charge of `amount` cents for `reference` under `key`; the test fails if no
    /// HTTP answer came back (a fault that drops the answer wants `client` directly).
    pub async fn charge(&self, key: &str, reference: &str, amount: u64) -> ChargeReply {
        self.client
            .create_charge(key, &charge(reference, amount))
            .await
            .expect("an HTTP answer")
    }

    /// The provider's ledger right now.
    pub async fn ledger(&self) -> Ledger {
        self.client.ledger().await.expect("the ledger")
    }
}

/// A provider without faults.
pub async fn start() -> TestProvider {
    start_with(FaultRates::default(), 1).await
}

/// A provider with `rates`, its faults seeded with `seed`.
pub async fn start_with(rates: FaultRates, seed: u64) -> TestProvider {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(SystemTime::now());
    let store = Store::open(
        &db_path(dir.path()),
        RETENTION,
        Clock::Manual(clock.clone()),
    )
    .await
    .expect("store opens");
    let faults = Faults::new(rates, seed);
    let state = AppState::new(store, faults.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("local addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(sidefx_provider::serve(listener, state, async {
        let _ = stopped.await;
    }));
    TestProvider {
        client: client(&base_url),
        base_url,
        faults,
        clock,
        dir,
        stop: Some(stop),
        task,
    }
}

/// The database file inside a test's temp dir (in a subdirectory, to exercise its creation).
pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("data").join("provider.sqlite")
}

/// A client with a timeout generous enough for slow faults.
pub fn client(base_url: &str) -> ProviderClient {
    ProviderClient::new(base_url, Duration::from_secs(10)).expect("client builds")
}

/// A charge of `amount` cents in USD for `reference`.
pub fn charge(reference: &str, amount: u64) -> ChargeRequest {
    ChargeRequest {
        amount,
        currency: "usd".to_owned(),
        reference: reference.to_owned(),
        metadata: Default::default(),
    }
}

/// The charge `reply` carries and whether it was a replay; panics on a decline or refusal.
#[track_caller]
pub fn charged(reply: ChargeReply) -> (Charge, bool) {
    match reply {
        ChargeReply::Charged { charge, replayed } => (charge, replayed),
        other => panic!("expected a charge, got {other:?}"),
    }
}

/// The charge `reply` carries, asserting that it is one and that it was (or was not) a replay.
#[track_caller]
pub fn expect_charge(reply: ChargeReply, replayed: bool) -> Charge {
    let (charge, was_replayed) = charged(reply);
    assert_eq!(was_replayed, replayed, "replayed flag of {charge:?}");
    charge
}

/// The status, error code and `Retry-After` of a refusal; panics on anything else.
#[track_caller]
pub fn rejected(reply: &ChargeReply) -> (u16, &str, Option<Duration>) {
    match reply {
        ChargeReply::Rejected {
            status,
            error,
            retry_after,
        } => (*status, &error.code, *retry_after),
        other => panic!("expected a refusal, got {other:?}"),
    }
}
