//! The provider check of `sidefx verify`: the store's done effects against the provider's
//! ledger. Every done effect must have exactly one charge at the provider, the one its receipt
//! names; every charge must be the receipt of a done effect. The ledger counts executions, so
//! this sees a double charge that the store (one row per effect) cannot.
//!
//! `/debug/side-effects` lists at most 1000 rows (most recently updated first) and has no
//! cursor. When the store holds more done effects than that, the run of each charge not
//! matched in the listing is read with `GET /runs/{id}` (its id leads the idempotency key,
//! which is the effect id); done effects still unseen then have no charge pointing at them,
//! which is a violation counted, not listed.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::Finding;
use crate::proof::EffectRow;
use crate::provider::Ledger;

/// The most rows `/debug/side-effects` returns.
const LISTING_CAP: usize = 1000;

/// What the provider check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderReport {
    /// The provider asked.
    pub url: String,
    /// Succeeded charges in its ledger.
    pub charges: u64,
    /// Done effects compared with them.
    pub done_effects: u64,
    /// Violations, one per effect or charge (or one for a count of unseen effects).
    pub violations: Vec<Finding>,
    /// Charges whose effect is still in progress (not violations unless `--settled`).
    pub warnings: Vec<Finding>,
}

#[derive(Debug, Deserialize)]
struct Items {
    items: Vec<EffectRow>,
}

/// Reads the ledger, then the effect rows (in that order, so a charge made meanwhile is seen
/// with its row), and compares them with the store's count of done effects in `report`.
pub async fn check(
    client: &reqwest::Client,
    api: &str,
    provider: &str,
    report: &super::Report,
    settled: bool,
) -> Result<ProviderReport> {
    let done_total = report.counts.done_effects;
    let ledger = crate::provider::ledger(provider).await?;
    let url = format!("{api}/debug/side-effects?limit={LISTING_CAP}");
    let mut rows = get::<Items>(client, &url).await?.items;
    let listed_done = rows.iter().filter(|r| r.status == "done").count() as u64;
    if rows.len() >= LISTING_CAP && listed_done < done_total {
        rows.extend(rows_of_unmatched_charges(client, api, &ledger, &rows).await?);
    }
    let mut checked = judge(&ledger, &rows, done_total, settled);
    checked.url = provider.to_owned();
    Ok(checked)
}

/// The effect rows of the business keys of charges that no listed receipt names (the
/// listing is capped; a charge's reference is its effect's business key).
async fn rows_of_unmatched_charges(
    client: &reqwest::Client,
    api: &str,
    ledger: &Ledger,
    listed: &[EffectRow],
) -> Result<Vec<EffectRow>> {
    let named: BTreeSet<&str> = listed.iter().filter_map(EffectRow::charge_id).collect();
    let keys: BTreeSet<&str> = ledger
        .charges
        .iter()
        .filter(|c| !named.contains(c.id.as_str()))
        .map(|c| c.reference.as_str())
        .collect();
    let mut rows = Vec::new();
    for key in keys {
        // A reference that is no business key of this API stays unmatched: judged as such.
        let url = format!("{api}/debug/side-effects?business_key={key}");
        if let Ok(found) = get::<Items>(client, &url).await {
            rows.extend(found.items);
        }
    }
    Ok(rows)
}

async fn get<T: serde::de::DeserializeOwned>(client: &reqwest::Client, url: &str) -> Result<T> {
    client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("GET {url}"))?
        .json()
        .await
        .with_context(|| format!("GET {url}: unexpected body"))
}

fn finding(kind: &str, message: String) -> Finding {
    Finding {
        kind: kind.to_owned(),
        message,
    }
}

/// Compares the ledger with the effect rows (duplicates by effect id are read once).
pub fn judge(
    ledger: &Ledger,
    rows: &[EffectRow],
    done_total: u64,
    settled: bool,
) -> ProviderReport {
    let by_id: BTreeMap<&str, &EffectRow> =
        rows.iter().map(|r| (r.effect_id.as_str(), r)).collect();
    let done: Vec<&EffectRow> = by_id
        .values()
        .copied()
        .filter(|r| r.status == "done")
        .collect();
    let mut violations = Vec::new();
    for row in &done {
        violations.extend(check_done_effect(ledger, row));
    }
    let (unmatched, warnings) = unmatched_charges(ledger, &by_id, settled);
    violations.extend(unmatched);
    let unseen = done_total.saturating_sub(done.len() as u64);
    if unseen > 0 {
        violations.push(finding(
            "done_effect_without_charge",
            format!(
                "{unseen} done effect(s) beyond the listed rows have no charge at the provider"
            ),
        ));
    }
    ProviderReport {
        url: String::new(),
        charges: ledger.charges.len() as u64,
        done_effects: done.len() as u64 + unseen,
        violations,
        warnings,
    }
}

/// The violations of one done effect: no charge receipt, a receipt the provider does not
/// know, or more than one charge for its business key.
fn check_done_effect(ledger: &Ledger, row: &EffectRow) -> Option<Finding> {
    let (effect, key) = (&row.effect_id, &row.business_key);
    let Some(charge_id) = row.charge_id() else {
        return Some(finding(
            "done_effect_without_charge",
            format!("effect {effect} is done but its receipt names no charge"),
        ));
    };
    let charges: Vec<&str> = crate::provider::charges_for(ledger, key)
        .map(|c| c.id.as_str())
        .collect();
    if !charges.contains(&charge_id) {
        return Some(finding(
            "done_effect_without_charge",
            format!(
                "effect {effect} is done with charge {charge_id}, which the provider does not hold for {key}"
            ),
        ));
    }
    (charges.len() > 1).then(|| {
        finding(
            "duplicate_charge",
            format!("business key {key} was charged {} times ({}); effect {effect}'s receipt is {charge_id}",
                charges.len(), charges.join(", ")),
        )
    })
}

/// Charges no done effect's receipt names: a violation, or a warning while an in-progress
/// row of the same business key may still record it (unless `settled`).
fn unmatched_charges(
    ledger: &Ledger,
    by_id: &BTreeMap<&str, &EffectRow>,
    settled: bool,
) -> (Vec<Finding>, Vec<Finding>) {
    let receipts: BTreeSet<&str> = by_id
        .values()
        .filter(|r| r.status == "done")
        .filter_map(|r| r.charge_id())
        .collect();
    let pending: BTreeSet<&str> = by_id
        .values()
        .filter(|r| r.status != "done")
        .map(|r| r.business_key.as_str())
        .collect();
    let (mut violations, mut warnings) = (Vec::new(), Vec::new());
    for charge in ledger
        .charges
        .iter()
        .filter(|c| !receipts.contains(c.id.as_str()))
    {
        let (id, key) = (&charge.id, &charge.reference);
        if pending.contains(key.as_str()) && !settled {
            warnings.push(finding(
                "charge_effect_in_progress",
                format!("charge {id} for {key}: its effect is still in progress"),
            ));
        } else {
            violations.push(finding(
                "charge_without_done_effect",
                format!(
                    "charge {id} for {key} (Idempotency-Key {}) is the receipt of no done effect",
                    charge.idempotency_key
                ),
            ));
        }
    }
    (violations, warnings)
}
