//! The fault windows against a real in-process server: in flight (409), fail before commit
//! (503), rate limit (429), drop after commit (no answer, yet charged), and seeded
//! reproducibility.

mod common;

use std::time::Duration;

use common::{charge, expect_charge, rejected, start_with};
use sidefx_provider::wire::error_code;
use sidefx_provider::{ChargeReply, ClientError, FaultRates, ProviderClient, Rate};
use sidefx_testkit::poll_until;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_concurrent_request_with_an_in_flight_key_gets_409() {
    let slow = FaultRates {
        slow: Rate::ALWAYS,
        slow_for: Duration::from_secs(3),
        ..FaultRates::default()
    };
    let provider = start_with(slow, 1).await;
    let client = provider.client.clone();
    let first =
        tokio::spawn(async move { client.create_charge("key-1", &charge("order-1", 100)).await });
    poll_until("the key in flight", WAIT, || async {
        let ledger = provider.ledger().await;
        ledger.in_flight.contains(&"key-1".to_owned()).then_some(())
    })
    .await;

    let second = provider.charge("key-1", "order-1", 100).await;
    assert_eq!(rejected(&second).0, 409);
    assert_eq!(rejected(&second).1, error_code::REQUEST_IN_FLIGHT);
    assert!(second.is_retryable());

    expect_charge(first.await.unwrap().unwrap(), false);
    // The retry after the first finished is a replay: still one charge.
    expect_charge(provider.charge("key-1", "order-1", 100).await, true);
    let ledger = provider.ledger().await;
    assert_eq!(ledger.total_charges, 1);
    assert_eq!(ledger.requests_per_key["key-1"], 3, "the 409 is counted");
    assert!(ledger.in_flight.is_empty());
    provider.stop().await;
}

#[tokio::test]
async fn fail_before_commit_is_a_503_that_stores_nothing() {
    let failing = FaultRates {
        fail_before_commit: Rate::ALWAYS,
        ..FaultRates::default()
    };
    let provider = start_with(failing, 1).await;
    let reply = provider.charge("key-1", "order-1", 100).await;
    assert_eq!(
        rejected(&reply),
        (
            503,
            error_code::SERVICE_UNAVAILABLE,
            Some(Duration::from_secs(1))
        )
    );
    assert!(reply.is_retryable());
    assert_eq!(provider.ledger().await.total_charges, 0);

    // Not stored under the key: once the fault clears, the retry executes for real.
    provider.faults.set_rates(FaultRates::default());
    expect_charge(provider.charge("key-1", "order-1", 100).await, false);
    let ledger = provider.ledger().await;
    assert_eq!(ledger.total_charges, 1);
    assert_eq!(ledger.requests_per_key["key-1"], 2);
    provider.stop().await;
}

#[tokio::test]
async fn rate_limit_is_a_429_with_retry_after_and_never_hits_a_replay() {
    let provider = start_with(FaultRates::default(), 1).await;
    provider.charge("key-1", "order-1", 100).await;
    provider.faults.set_rates(FaultRates {
        rate_limit: Rate::ALWAYS,
        ..FaultRates::default()
    });

    let reply = provider.charge("key-2", "order-2", 100).await;
    assert_eq!(
        rejected(&reply),
        (429, error_code::RATE_LIMITED, Some(Duration::from_secs(1)))
    );
    // Faults are never applied to a replay of a committed key.
    expect_charge(provider.charge("key-1", "order-1", 100).await, true);
    assert_eq!(provider.ledger().await.total_charges, 1);
    provider.stop().await;
}

#[tokio::test]
async fn drop_after_commit_charges_without_answering_and_the_retry_replays_it() {
    let dropping = FaultRates {
        drop_after_commit: Rate::ALWAYS,
        ..FaultRates::default()
    };
    let provider = start_with(dropping, 1).await;
    let err = provider
        .client
        .create_charge("key-1", &charge("order-1", 100))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Unknown(_)),
        "no HTTP answer, outcome unknown: {err:?}"
    );

    // Charged all the same: the "charged but we never heard" window.
    assert_eq!(provider.ledger().await.total_charges, 1);
    let charged = provider.client.list_charges("order-1").await.unwrap();
    assert_eq!(charged.len(), 1);

    // The retry with the same key is answered from the store, fault or not.
    let replayed = expect_charge(provider.charge("key-1", "order-1", 100).await, true);
    assert_eq!(replayed, charged[0]);
    assert_eq!(provider.ledger().await.total_charges, 1);
    provider.stop().await;
}

#[tokio::test]
async fn a_connection_refused_is_not_sent() {
    let provider = start_with(FaultRates::default(), 1).await;
    let base_url = provider.base_url.clone();
    provider.stop().await;
    let err = common::client(&base_url)
        .create_charge("k", &charge("r", 1))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::NotSent(_)), "{err:?}");
}

/// The status of each of `n` requests with distinct keys, in order.
async fn statuses(rates: FaultRates, seed: u64, n: usize) -> Vec<u16> {
    let provider = start_with(rates, seed).await;
    let mut out = Vec::new();
    for i in 0..n {
        let reply = provider
            .charge(&format!("key-{i}"), &format!("order-{i}"), 100)
            .await;
        out.push(match reply {
            ChargeReply::Charged { .. } => 200,
            ChargeReply::Declined { .. } => 402,
            ChargeReply::Rejected { status, .. } => status,
        });
    }
    provider.stop().await;
    out
}

#[tokio::test]
async fn the_same_seed_makes_the_same_fault_decisions() {
    let rates = FaultRates {
        rate_limit: Rate::new(0.3).unwrap(),
        fail_before_commit: Rate::new(0.3).unwrap(),
        ..FaultRates::default()
    };
    let a = statuses(rates, 42, 30).await;
    let b = statuses(rates, 42, 30).await;
    assert_eq!(a, b);
    for status in [200, 429, 503] {
        assert!(a.contains(&status), "{status} never drawn: {a:?}");
    }
    assert_ne!(
        statuses(rates, 43, 30).await,
        a,
        "another seed, other decisions"
    );
}

#[tokio::test]
async fn a_client_timeout_is_unknown_and_retrying_the_key_charges_once() {
    let slow = FaultRates {
        slow: Rate::ALWAYS,
        slow_for: Duration::from_secs(1),
        ..FaultRates::default()
    };
    let provider = start_with(slow, 1).await;
    let impatient = ProviderClient::new(&provider.base_url, Duration::from_millis(100)).unwrap();
    let request = charge("order-1", 100);
    let err = impatient
        .create_charge("key-1", &request)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unknown(_)), "{err:?}");

    // Whether or not the held request still commits, retrying the key ends with one charge:
    // 409 while it is held, then its replay (or a real execution if it died unanswered).
    provider.faults.set_rates(FaultRates::default());
    let charge = poll_until("the retry to be answered with a charge", WAIT, || async {
        match provider
            .client
            .create_charge("key-1", &request)
            .await
            .unwrap()
        {
            ChargeReply::Charged { charge, .. } => Some(charge),
            retry => {
                assert_eq!(rejected(&retry).0, 409, "{retry:?}");
                None
            }
        }
    })
    .await;
    let ledger = provider.ledger().await;
    assert_eq!(ledger.total_charges, 1);
    assert_eq!(ledger.charges[0].id, charge.id);
    provider.stop().await;
}
