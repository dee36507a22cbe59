//! The charge contract against a real in-process server: first charge, replays, key reuse,
//! declines, lookups, the ledger and key retention.

mod common;

use std::time::Duration;

use common::{RETENTION, charge, charged, expect_charge, start};
use sidefx_provider::ChargeReply;
use sidefx_provider::wire::{STATUS_SUCCEEDED, error_code, error_type};

#[tokio::test]
async fn first_charge_succeeds_and_is_in_the_ledger() {
    let provider = start().await;
    let first = expect_charge(provider.charge("key-1", "order-1", 1999).await, false);
    assert!(first.id.starts_with("ch_"), "{}", first.id);
    assert_eq!((first.amount, first.currency.as_str()), (1999, "usd"));
    assert_eq!(
        (first.reference.as_str(), first.status.as_str()),
        ("order-1", STATUS_SUCCEEDED)
    );
    assert!(first.created > 1_600_000_000);

    let ledger = provider.ledger().await;
    assert_eq!(ledger.total_charges, 1);
    assert_eq!(ledger.charges_per_reference["order-1"], 1);
    assert_eq!(ledger.charges[0].id, first.id);
    assert_eq!(ledger.charges[0].idempotency_key, "key-1");
    provider.stop().await;
}

#[tokio::test]
async fn same_key_same_params_replays_the_stored_answer() {
    let provider = start().await;
    let (first, _) = charged(provider.charge("key-1", "order-1", 500).await);
    let (again, replayed) = charged(provider.charge("key-1", "order-1", 500).await);
    assert!(replayed, "the replay carries Idempotent-Replayed: true");
    assert_eq!(again, first);

    // The raw answer: same status and body, and the header.
    let url = format!("{}/v1/charges", provider.base_url);
    let raw = reqwest::Client::new()
        .post(url)
        .header("Idempotency-Key", "key-1")
        .json(&charge("order-1", 500))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    assert_eq!(raw.headers()["idempotent-replayed"], "true");
    let body: sidefx_provider::wire::Charge = raw.json().await.unwrap();
    assert_eq!(body, first);

    let ledger = provider.ledger().await;
    assert_eq!(ledger.total_charges, 1, "replays are not charges");
    assert_eq!(ledger.requests_per_key["key-1"], 3, "replays are requests");
    assert_eq!(ledger.total_requests, 3);
    provider.stop().await;
}

#[tokio::test]
async fn same_key_other_params_is_refused() {
    let provider = start().await;
    provider.charge("key-1", "order-1", 500).await;
    for other in [charge("order-1", 501), charge("order-2", 500)] {
        let reply = provider
            .client
            .create_charge("key-1", &other)
            .await
            .unwrap();
        let ChargeReply::Rejected { status, error, .. } = &reply else {
            panic!("expected a refusal, got {reply:?}");
        };
        assert_eq!(*status, 400);
        assert_eq!(error.type_, error_type::IDEMPOTENCY);
        assert_eq!(error.code, error_code::IDEMPOTENCY_KEY_REUSED);
        assert!(!reply.is_retryable());
    }
    assert_eq!(provider.ledger().await.total_charges, 1);
    provider.stop().await;
}

#[tokio::test]
async fn a_decline_is_stored_under_its_key_but_is_not_a_charge() {
    let provider = start().await;
    for expect_replayed in [false, true] {
        let reply = provider.charge("key-d", "decline-order-9", 700).await;
        let ChargeReply::Declined { error, replayed } = reply else {
            panic!("expected a decline, got {reply:?}");
        };
        assert_eq!(replayed, expect_replayed);
        assert_eq!(error.type_, error_type::CARD);
        assert_eq!(error.code, error_code::CARD_DECLINED);
    }
    let ledger = provider.ledger().await;
    assert_eq!(ledger.total_charges, 0);
    assert_eq!(ledger.declines, 1, "the replay is not a second decline");
    assert_eq!(ledger.requests_per_key["key-d"], 2);
    assert!(
        provider
            .client
            .list_charges("decline-order-9")
            .await
            .unwrap()
            .is_empty()
    );
    provider.stop().await;
}

#[tokio::test]
async fn list_charges_finds_a_references_charges_oldest_first() {
    let provider = start().await;
    let (a, _) = charged(provider.charge("k-a", "order & co/1", 100).await);
    provider.charge("k-other", "order-2", 100).await;
    let (b, _) = charged(provider.charge("k-b", "order & co/1", 200).await);
    let client = &provider.client;
    let list = client.list_charges("order & co/1").await.unwrap();
    assert_eq!(list, vec![a, b]);
    assert!(client.list_charges("nobody").await.unwrap().is_empty());
    assert_eq!(
        provider.ledger().await.charges_per_reference["order & co/1"],
        2
    );
    provider.stop().await;
}

#[tokio::test]
async fn deleting_the_ledger_forgets_keys_charges_and_counts() {
    let provider = start().await;
    let (first, _) = charged(provider.charge("key-1", "order-1", 100).await);
    provider.charge("key-d", "decline-x", 100).await;
    provider.client.reset_ledger().await.unwrap();
    assert_eq!(
        provider.ledger().await,
        sidefx_provider::wire::Ledger::default()
    );
    // The key is forgotten too: the same request executes again, as new.
    let again = expect_charge(provider.charge("key-1", "order-1", 100).await, false);
    assert_ne!(again.id, first.id);
    provider.stop().await;
}

#[tokio::test]
async fn a_key_past_retention_is_new_again() {
    let provider = start().await;
    let (first, _) = charged(provider.charge("key-1", "order-1", 100).await);
    provider.clock.advance(RETENTION - Duration::from_secs(1));
    // Still inside the window: a replay.
    let inside = expect_charge(provider.charge("key-1", "order-1", 100).await, true);
    assert_eq!(inside.id, first.id);

    provider.clock.advance(Duration::from_secs(1));
    // Past the window even other parameters are a new request, not a reuse.
    let later = expect_charge(provider.charge("key-1", "order-1", 300).await, false);
    assert_ne!(later.id, first.id);
    assert_eq!(later.amount, 300);
    // The new answer is stored under the key.
    let replay = expect_charge(provider.charge("key-1", "order-1", 300).await, true);
    assert_eq!(replay.id, later.id);
    assert_eq!(provider.ledger().await.charges_per_reference["order-1"], 2);
    provider.stop().await;
}
