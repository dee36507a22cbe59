//! The one `AppState`: cheap clonable handles to the store, the in-flight keys and the fault
//! decider, passed to every handler through axum's `State`.

use crate::clock::Clock;
use crate::config::ProviderConfig;
use crate::faults::Faults;
use crate::inflight::InFlight;
use crate::store::{Store, StoreError};

/// Everything a request needs.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Durable keys, charges and counts.
    pub store: Store,
    /// Keys being processed right now.
    pub inflight: InFlight,
    /// The seeded fault decider (its rates can be changed while serving).
    pub faults: Faults,
}

impl AppState {
    /// A state over `store` deciding faults with `faults`.
    pub fn new(store: Store, faults: Faults) -> Self {
        AppState {
            store,
            inflight: InFlight::default(),
            faults,
        }
    }

    /// Opens the store and seeds the faults as `config` says (a random seed when none given).
    pub async fn from_config(config: &ProviderConfig) -> Result<Self, StoreError> {
        let store = Store::open(&config.db, config.key_retention(), Clock::System).await?;
        let seed = config.seed.unwrap_or_else(rand::random);
        Ok(AppState::new(
            store,
            Faults::new(config.fault_rates(), seed),
        ))
    }
}
