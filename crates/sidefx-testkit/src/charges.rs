//! The exactly-once assertion over the payments provider's ledger: how often a business key
//! was really charged, whatever the requests, replays and idempotency keys were.

use sidefx_provider::wire::Ledger;

/// How many succeeded charges the provider's `ledger` holds for `business_key` (the charge's
/// `reference`), whichever idempotency keys they came with.
pub fn charges_of(ledger: &Ledger, business_key: &str) -> u64 {
    ledger
        .charges_per_reference
        .get(business_key)
        .copied()
        .unwrap_or(0)
}

/// Asserts that the provider's `ledger` holds exactly one charge for `business_key`.
///
/// # Panics
///
/// When it holds none or more than one, printing the ledger.
#[track_caller]
pub fn assert_charged_once(ledger: &Ledger, business_key: &str) {
    let charges = charges_of(ledger, business_key);
    assert!(
        charges == 1,
        "{}",
        not_once(
            business_key,
            charges,
            &format!("the provider's ledger: {ledger:#?}")
        )
    );
}

/// The failure message of an effect executed `times` times instead of once.
pub(crate) fn not_once(business_key: &str, times: u64, ledger: &str) -> String {
    format!("business key {business_key} was executed {times} time(s), not exactly once\n{ledger}")
}
