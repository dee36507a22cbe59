//! The provider check of `sidefx verify`: the store's done effects against the provider's
//! ledger. Every done effect must have exactly one charge at the provider, the one its receipt
//! names; every charge must be the receipt of a done effect. The ledger counts executions, so
//! this sees a double charge that the store (one row per effect) cannot.
//!
//! `/debug/side-effects` lists at most 1000 rows (most recently updated first) and has no
//! cursor. When the store holds more done effects than that, the run of each charge not
//! matched in the listing is read by its business key (`?business_key=`, the charge's
//! reference); done effects still unseen then have no charge pointing at them, which is a
//! violation counted, not listed.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use serde::Serialize;
use sidefx_core::{BusinessKey, EffectStatus, VerifyReport};

use crate::api_client::{ApiClient, SideEffectView};
use crate::proof::charge_id;
use crate::provider::Ledger;

/// The most rows `/debug/side-effects` returns.
const LISTING_CAP: usize = 1000;

/// A violation or a warning of the provider check: its `kind` and its sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `duplicate_charge`, `charge_without_done_effect`, …
    pub kind: String,
    /// One sentence for a person.
    pub message: String,
}

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

/// Reads the ledger, then the effect rows (in that order, so a charge made meanwhile is seen
/// with its row), and compares them with the store's count of done effects in `report`.
pub async fn check(
    client: &ApiClient,
    provider: &str,
    report: &VerifyReport,
    settled: bool,
) -> Result<ProviderReport> {
    let done_total = report.counts.done_effects;
    let ledger = crate::provider::ledger(provider).await?;
    let mut rows = client.side_effects(LISTING_CAP).await?.items;
    let listed_done = rows
        .iter()
        .filter(|r| r.status == EffectStatus::Done)
        .count() as u64;
    if rows.len() >= LISTING_CAP && listed_done < done_total {
        rows.extend(rows_of_unmatched_charges(client, &ledger, &rows).await);
    }
    let mut checked = judge(&ledger, &rows, done_total, settled);
    checked.url = provider.to_owned();
    Ok(checked)
}

/// The effect rows of the business keys of charges that no listed receipt names (the
/// listing is capped; a charge's reference is its effect's business key).
async fn rows_of_unmatched_charges(
    client: &ApiClient,
    ledger: &Ledger,
    listed: &[SideEffectView],
) -> Vec<SideEffectView> {
    let named: BTreeSet<&str> = listed.iter().filter_map(charge_id).collect();
    let keys: BTreeSet<&str> = ledger
        .charges
        .iter()
        .filter(|c| !named.contains(c.id.as_str()))
        .map(|c| c.reference.as_str())
        .collect();
    let mut rows = Vec::new();
    // A reference that is no business key of this API stays unmatched: judged as such.
    for key in keys.into_iter().filter_map(|k| BusinessKey::parse(k).ok()) {
        if let Ok(found) = client.side_effects_of(&key).await {
            rows.extend(found.items);
        }
    }
    rows
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
    rows: &[SideEffectView],
    done_total: u64,
    settled: bool,
) -> ProviderReport {
    let by_id: BTreeMap<&str, &SideEffectView> =
        rows.iter().map(|r| (r.effect_id.as_str(), r)).collect();
    let done: Vec<&SideEffectView> = by_id
        .values()
        .copied()
        .filter(|r| r.status == EffectStatus::Done)
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
fn check_done_effect(ledger: &Ledger, row: &SideEffectView) -> Option<Finding> {
    let (effect, key) = (&row.effect_id, &row.business_key);
    let Some(charge_id) = charge_id(row) else {
        return Some(finding(
            "done_effect_without_charge",
            format!("effect {effect} is done but its receipt names no charge"),
        ));
    };
    let charges: Vec<&str> = crate::provider::charges_for(ledger, key.as_str())
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
    by_id: &BTreeMap<&str, &SideEffectView>,
    settled: bool,
) -> (Vec<Finding>, Vec<Finding>) {
    let receipts: BTreeSet<&str> = by_id
        .values()
        .filter(|r| r.status == EffectStatus::Done)
        .filter_map(|r| charge_id(r))
        .collect();
    let pending: BTreeSet<&str> = by_id
        .values()
        .filter(|r| r.status != EffectStatus::Done)
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
