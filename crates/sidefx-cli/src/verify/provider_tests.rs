//! The provider check's judgement on hand-made ledgers and rows: a clean match, a double
//! charge, a charge without an effect, an effect without a charge, and unseen effects.

use super::provider::judge;
use sidefx_core::{EffectStatus, Receipt};

use crate::api_client::SideEffectView;
use crate::proof::effect_view;
use crate::provider::{Ledger, LedgerCharge};

fn done(key: &str, charge: Option<&str>) -> SideEffectView {
    let receipt = charge.map(|id| Receipt::Charge {
        charge_id: id.to_owned(),
        ticket_path: format!("tickets/ticket_{key}.json"),
    });
    effect_view(&format!("r-{key}"), key, EffectStatus::Done, receipt)
}

fn ledger(charges: &[(&str, &str)]) -> Ledger {
    let mut ledger = Ledger::default();
    for (id, key) in charges {
        *ledger
            .charges_per_reference
            .entry((*key).to_owned())
            .or_insert(0) += 1;
        ledger.charges.push(LedgerCharge {
            id: (*id).to_owned(),
            reference: (*key).to_owned(),
            idempotency_key: format!("r-{key}:charge_card:{key}"),
            amount: 100,
            currency: "usd".to_owned(),
            created: 1,
        });
    }
    ledger
}

fn kinds(report: &super::provider::ProviderReport) -> Vec<&str> {
    report.violations.iter().map(|v| v.kind.as_str()).collect()
}

#[test]
fn one_charge_per_done_effect_is_clean() {
    let rows = [done("a", Some("ch_a")), done("b", Some("ch_b"))];
    let report = judge(&ledger(&[("ch_a", "a"), ("ch_b", "b")]), &rows, 2, true);
    assert_eq!(kinds(&report), Vec::<&str>::new());
    assert_eq!((report.charges, report.done_effects), (2, 2));
}

#[test]
fn a_second_charge_for_a_key_is_a_duplicate_and_unowned() {
    let rows = [done("a", Some("ch_2"))];
    let report = judge(&ledger(&[("ch_1", "a"), ("ch_2", "a")]), &rows, 1, true);
    assert_eq!(
        kinds(&report),
        ["duplicate_charge", "charge_without_done_effect"]
    );
    assert!(report.violations[1].message.contains("ch_1"));
}

#[test]
fn effects_without_their_charge_are_violations() {
    let rows = [done("a", Some("ch_gone")), done("b", None)];
    let report = judge(&ledger(&[]), &rows, 2, true);
    assert_eq!(
        kinds(&report),
        ["done_effect_without_charge", "done_effect_without_charge"]
    );
}

#[test]
fn an_in_progress_effect_explains_its_charge_until_settled() {
    let mut row = done("a", None);
    row.status = EffectStatus::InProgress;
    let rows = [row];
    let charged = ledger(&[("ch_a", "a")]);
    let report = judge(&charged, &rows, 0, false);
    assert!(report.violations.is_empty());
    assert_eq!(report.warnings[0].kind, "charge_effect_in_progress");
    let settled = judge(&charged, &rows, 0, true);
    assert_eq!(kinds(&settled), ["charge_without_done_effect"]);
}

#[test]
fn done_effects_the_listing_did_not_show_have_no_charge() {
    let rows = [done("a", Some("ch_a"))];
    let report = judge(&ledger(&[("ch_a", "a")]), &rows, 3, true);
    assert_eq!(kinds(&report), ["done_effect_without_charge"]);
    assert!(report.violations[0].message.starts_with("2 done effect(s)"));
    assert_eq!(report.done_effects, 3);
}
