//! The payments provider as the CLI reads it: its ledger of real executions (`GET /_ledger`,
//! the ground truth of every "exactly once" claim), through the provider crate's own client
//! and wire types, and the two counts the CLI draws from it.

use std::time::Duration;

use anyhow::{Context, Result};
use sidefx_provider::client::ProviderClient;
pub use sidefx_provider::wire::{Ledger, LedgerCharge};

/// A ledger read lists every charge: give a large one time.
const LEDGER_TIMEOUT: Duration = Duration::from_secs(30);

/// `GET {provider}/_ledger`.
pub async fn ledger(provider: &str) -> Result<Ledger> {
    let client = ProviderClient::new(provider, LEDGER_TIMEOUT)
        .context("cannot build the provider client")?;
    client
        .ledger()
        .await
        .with_context(|| format!("GET {}/_ledger", client.base_url()))
}

/// Requests beyond the first per idempotency key, summed: calls the key collapsed (retries
/// after a timeout or a dropped answer, redeliveries that asked again).
pub fn repeats(ledger: &Ledger) -> u64 {
    ledger
        .requests_per_key
        .values()
        .map(|n| n.saturating_sub(1))
        .sum()
}

/// The succeeded charges for one business key.
pub fn charges_for<'a>(
    ledger: &'a Ledger,
    reference: &'a str,
) -> impl Iterator<Item = &'a LedgerCharge> {
    ledger
        .charges
        .iter()
        .filter(move |c| c.reference == reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_ledger_and_counts_collapsed_requests() {
        let ledger: Ledger = serde_json::from_value(serde_json::json!({
            "charges_per_reference": {"k1": 1, "k2": 2},
            "requests_per_key": {"r:s:k1": 3, "r:s:k2": 1, "r2:s:k2": 1},
            "charges": [
                {"id": "ch_1", "reference": "k1", "amount": 100, "currency": "usd",
                 "idempotency_key": "r:s:k1", "created": 1},
                {"id": "ch_2", "reference": "k2", "amount": 100, "currency": "usd",
                 "idempotency_key": "r:s:k2", "created": 1},
            ],
            "total_charges": 2, "total_requests": 5, "declines": 0
        }))
        .unwrap();
        assert_eq!(repeats(&ledger), 2);
        assert_eq!(charges_for(&ledger, "k2").count(), 1);
        assert_eq!(ledger.charges_per_reference["k2"], 2);
    }
}
