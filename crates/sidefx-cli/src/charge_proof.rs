//! The provider half of a demo's proof, for runs whose effect charged the provider: the
//! receipt's charge id, the provider's own count of charges for the business key (its ledger
//! counts executions, so a double charge shows there even when the store holds one row), and
//! the recovery path the worker took, read from the run's events.

use anyhow::{Result, bail};

use crate::api_client::SideEffectView;
use crate::proof::charge_id;
use crate::stack::DataDir;
use crate::stack::state::StackState;
use crate::ui::Style;

/// The provider of a stack started without a state file.
pub const DEFAULT_PROVIDER: &str = "http://127.0.0.1:8090";

/// The provider's URL: the flag (or `PROVIDER_URL`), else the provider of the stack recorded
/// in the data dir; `None` when neither names one.
pub fn provider_url(flag: Option<&str>, dir: &DataDir) -> Result<Option<String>> {
    let url = match flag {
        Some(url) => Some(url.to_owned()),
        None => StackState::load(dir)?.and_then(|s| s.provider.map(|p| p.url)),
    };
    Ok(url.map(|u| u.trim_end_matches('/').to_owned()))
}

/// How the worker got the effect done, from the event types of the run (first match wins:
/// a takeover or a heal explains a crash better than the skip that may follow it).
pub fn recovery_path(kinds: &[String]) -> &'static str {
    let saw = |kind: &str| kinds.iter().any(|k| k == kind);
    if saw("side_effect.taken_over") {
        "taken over: the crashed worker's claim expired, a new claim charged with the same key"
    } else if saw("side_effect.healed") {
        "healed: the charge had happened, its receipt marked the effect done"
    } else if saw("side_effect.skipped") {
        "skipped: the redelivered command found the effect done"
    } else if kinds.iter().any(|k| k.starts_with("retry.")) {
        "retried: the first attempt failed before the charge, the retry charged once"
    } else {
        "none needed: the first attempt charged"
    }
}

/// Prints the charge evidence of `row` (an effect with a charge receipt); an error unless
/// the provider holds exactly one charge for the business key, the receipt's.
pub async fn check(
    provider: &str,
    row: &SideEffectView,
    kinds: &[String],
    style: Style,
) -> Result<()> {
    let Some(charge_id) = charge_id(row) else {
        return Ok(());
    };
    let (yes, no) = (style.ok("✔"), style.err("✘"));
    println!("\n{}", style.bold("Provider"));
    println!("  {yes} receipt: charge {charge_id}");
    let ledger = crate::provider::ledger(provider).await?;
    let key = row.business_key.as_str();
    let charges: Vec<&str> = crate::provider::charges_for(&ledger, key)
        .map(|c| c.id.as_str())
        .collect();
    let count = ledger.charges_per_reference.get(key).copied().unwrap_or(0);
    let holds = count == 1 && charges == [charge_id];
    let mark = if holds { &yes } else { &no };
    println!(
        "  {mark} charges at the provider for {key}: {count} ({})",
        charges.join(", ")
    );
    println!("  recovery path: {}", recovery_path(kinds));
    if !holds {
        bail!(
            "the provider holds {count} charge(s) for {key}, expected exactly the receipt's {charge_id}"
        );
    }
    println!("  {}", style.ok("charged exactly once"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(list: &[&str]) -> Vec<String> {
        list.iter().map(|k| (*k).to_owned()).collect()
    }

    #[test]
    fn the_recovery_path_is_named_from_the_events() {
        let crash = kinds(&["side_effect.done", "chaos.crash", "side_effect.skipped"]);
        assert!(recovery_path(&crash).starts_with("skipped"));
        let heal = kinds(&["side_effect.executing", "side_effect.healed"]);
        assert!(recovery_path(&heal).starts_with("healed"));
        let takeover = kinds(&["side_effect.taken_over", "side_effect.done"]);
        assert!(recovery_path(&takeover).starts_with("taken over"));
        assert!(recovery_path(&kinds(&["retry.scheduled"])).starts_with("retried"));
        assert!(recovery_path(&[]).starts_with("none"));
    }

    #[test]
    fn the_provider_url_comes_from_the_flag_then_the_state() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path()).unwrap();
        assert_eq!(provider_url(None, &dir).unwrap(), None);
        assert_eq!(
            provider_url(Some("http://p:1/"), &dir).unwrap().as_deref(),
            Some("http://p:1")
        );
    }
}
