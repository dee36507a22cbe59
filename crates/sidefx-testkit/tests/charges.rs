//! `assert_charged_once` against the real in-process provider: it passes for one charge (a
//! replay of its key included) and fails, printing the ledger, for two charges of one
//! business key under two idempotency keys, and for none.

use std::time::Duration;

use sidefx_core::BusinessKey;
use sidefx_provider::wire::ChargeRequest;
use sidefx_provider::{ChargeReply, FaultRates};
use sidefx_testkit::{Effect, TestProvider, TestStack, assert_charged_once, charges_of};

async fn provider() -> (TestProvider, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let provider = TestProvider::start(dir.path(), FaultRates::default()).await;
    (provider, dir)
}

/// Charges 10.00 USD for `reference` under `idempotency_key`; the reply must be a charge.
async fn charge(provider: &TestProvider, idempotency_key: &str, reference: &str) {
    let request = ChargeRequest {
        amount: 1000,
        currency: "usd".to_owned(),
        reference: reference.to_owned(),
        metadata: Default::default(),
    };
    let reply = provider
        .client
        .create_charge(idempotency_key, &request)
        .await
        .expect("an answer");
    assert!(matches!(reply, ChargeReply::Charged { .. }), "{reply:?}");
}

#[tokio::test]
async fn one_charge_replayed_counts_once() {
    let (provider, _dir) = provider().await;
    charge(&provider, "key-1", "order-1").await;
    charge(&provider, "key-1", "order-1").await;
    let ledger = provider.ledger().await;
    assert_eq!(ledger.requests_per_key["key-1"], 2, "{ledger:?}");
    assert_eq!(charges_of(&ledger, "order-1"), 1);
    assert_charged_once(&ledger, "order-1");
}

#[tokio::test]
#[should_panic(expected = "business key order-2 was executed 2 time(s), not exactly once")]
async fn two_charges_of_one_key_under_two_idempotency_keys_fail() {
    let (provider, _dir) = provider().await;
    charge(&provider, "key-a", "order-2").await;
    charge(&provider, "key-b", "order-2").await;
    assert_charged_once(&provider.ledger().await, "order-2");
}

#[tokio::test]
#[should_panic(expected = "business key order-3 was executed 0 time(s), not exactly once")]
async fn a_key_never_charged_fails() {
    let (provider, _dir) = provider().await;
    charge(&provider, "key-other", "order-other").await;
    assert_charged_once(&provider.ledger().await, "order-3");
}

#[tokio::test]
#[should_panic(expected = "the provider's ledger: Ledger {")]
async fn the_failure_prints_the_ledger() {
    let (provider, _dir) = provider().await;
    assert_charged_once(&provider.ledger().await, "order-4");
}

/// A provider-mode stack (no worker needed) counts at its provider's ledger.
#[tokio::test]
#[should_panic(expected = "business key order-5 was executed 2 time(s), not exactly once")]
async fn a_provider_mode_stack_sees_a_double_charge() {
    let stack = TestStack::builder()
        .workers(0)
        .effect(Effect::Provider(FaultRates::default()))
        .spawn()
        .await;
    let provider = stack.provider.as_ref().expect("a provider");
    charge(provider, "key-a", "order-5").await;
    charge(provider, "key-b", "order-5").await;
    let key = BusinessKey::parse("order-5").expect("key");
    assert_eq!(stack.executions(&key).await, 2);
    stack.assert_charged_once(&key).await;
}

/// A ticket-mode stack counts at the ticket ledger, empty before any worker ran.
#[tokio::test]
#[should_panic(expected = "business key order-6 was executed 0 time(s), not exactly once")]
async fn a_ticket_mode_stack_sees_an_effect_that_never_ran() {
    let stack = TestStack::builder().workers(0).spawn().await;
    let key = BusinessKey::parse("order-6").expect("key");
    tokio::time::timeout(Duration::from_secs(30), stack.assert_charged_once(&key))
        .await
        .expect("the ledger is read in time");
}
