//! The payments provider as the CLI reads it: its ledger of real executions (`GET /_ledger`,
//! the ground truth of every "exactly once" claim) and its charges for one business key.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;

/// Body of `GET /_ledger` (the fields the CLI reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Ledger {
    /// Succeeded charges per reference (business key): more than one is a double charge.
    pub charges_per_reference: BTreeMap<String, u64>,
    /// Every `POST /v1/charges` carrying each idempotency key, replays included.
    pub requests_per_key: BTreeMap<String, u64>,
    /// Every succeeded charge, oldest first.
    pub charges: Vec<LedgerCharge>,
    /// Number of succeeded charges.
    pub total_charges: u64,
}

/// One succeeded charge as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LedgerCharge {
    /// The charge id, `ch_…`.
    pub id: String,
    /// The business key.
    pub reference: String,
    /// The idempotency key of the request that executed it (the effect id).
    pub idempotency_key: String,
}

impl Ledger {
    /// Requests beyond the first per idempotency key, summed: calls the key collapsed
    /// (retries after a timeout or a dropped answer, redeliveries that asked again).
    pub fn repeats(&self) -> u64 {
        self.requests_per_key
            .values()
            .map(|n| n.saturating_sub(1))
            .sum()
    }

    /// The succeeded charges for one business key.
    pub fn charges_for<'a>(&'a self, reference: &'a str) -> impl Iterator<Item = &'a LedgerCharge> {
        self.charges
            .iter()
            .filter(move |c| c.reference == reference)
    }
}

/// `GET {provider}/_ledger`.
pub async fn ledger(client: &reqwest::Client, provider: &str) -> Result<Ledger> {
    let url = format!("{}/_ledger", provider.trim_end_matches('/'));
    client
        .get(&url)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("GET {url}"))?
        .json()
        .await
        .with_context(|| format!("GET {url}: not a provider ledger"))
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
        assert_eq!(ledger.repeats(), 2);
        assert_eq!(ledger.charges_for("k2").count(), 1);
        assert_eq!(ledger.charges_per_reference["k2"], 2);
    }
}
