//! Claims against a real SQLite file: the race, takeover, fencing and healing.

use std::time::Duration;

use sidefx_core::{
    BusinessKey, Claim, EffectId, EffectStatus, MarkDone, NewClaim, Receipt, RunId, StepId, Store,
};

const LIVE: Duration = Duration::from_secs(60);

/// A claim by run `run` for its own business key `order-<run>`.
fn claim_for(run: &str, owner: &str, lease: Duration) -> NewClaim {
    claim_of_key(run, &format!("order-{run}"), owner, lease)
}

/// A claim by run `run` for business key `key`.
fn claim_of_key(run: &str, key: &str, owner: &str, lease: Duration) -> NewClaim {
    let run_id = RunId::parse(run).unwrap();
    let step_id = StepId::charge_card();
    let business_key = BusinessKey::parse(key).unwrap();
    NewClaim {
        effect_id: EffectId::new(&run_id, &step_id, &business_key),
        run_id,
        step_id,
        business_key,
        payload_json: r#"{"type":"run.command"}"#.to_owned(),
        owner: owner.to_owned(),
        lease,
    }
}

async fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("db/side_effects.sqlite"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_from_many_connections_acquire_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    // Separate Store handles = separate connections, like separate worker processes.
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(open(&dir).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..32 {
        let store = stores[i % stores.len()].clone();
        tasks.spawn(async move { store.claim(claim_for("r1", &format!("w{i}"), LIVE)).await });
    }
    let mut acquired = 0;
    while let Some(result) = tasks.join_next().await {
        match result.unwrap().unwrap() {
            Claim::Acquired => acquired += 1,
            Claim::InProgress(row) => assert_eq!(row.status, EffectStatus::InProgress),
            Claim::AlreadyDone(row) => panic!("nobody marked it done: {row:?}"),
        }
    }
    assert_eq!(acquired, 1);
    let rows = stores[0].list_effects(10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].attempts, 1);
}

#[tokio::test]
async fn claim_reports_the_existing_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let c = claim_for("r1", "w1", LIVE);
    assert_eq!(store.claim(c.clone()).await.unwrap(), Claim::Acquired);

    let Claim::InProgress(row) = store.claim(claim_for("r1", "w2", LIVE)).await.unwrap() else {
        panic!("expected InProgress");
    };
    assert_eq!(row.owner.as_deref(), Some("w1"));
    assert!(!row.lease_expired(row.created_ms));

    store
        .mark_done(
            &c.effect_id,
            "w1",
            &Receipt::ticket("/t/ticket_order-1.json"),
        )
        .await
        .unwrap();
    let Claim::AlreadyDone(row) = store.claim(claim_for("r1", "w3", LIVE)).await.unwrap() else {
        panic!("expected AlreadyDone");
    };
    assert_eq!(row.artifact_path.as_deref(), Some("/t/ticket_order-1.json"));
    assert_eq!(row.lease_expires_ms, None);
}

#[tokio::test]
async fn take_over_only_when_the_lease_expired() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let live = claim_for("live", "w1", LIVE);
    store.claim(live.clone()).await.unwrap();
    assert!(
        !store
            .take_over(&live.effect_id, "w1", "w2", LIVE)
            .await
            .unwrap()
    );
    // The owner itself may renew its live claim (its own redelivery).
    assert!(
        store
            .take_over(&live.effect_id, "w1", "w1", LIVE)
            .await
            .unwrap()
    );

    let expired = claim_for("expired", "w1", Duration::ZERO);
    store.claim(expired.clone()).await.unwrap();
    // Wrong expected owner: the claim is not the one the caller looked at.
    assert!(
        !store
            .take_over(&expired.effect_id, "w9", "w2", LIVE)
            .await
            .unwrap()
    );
    assert!(
        store
            .take_over(&expired.effect_id, "w1", "w2", LIVE)
            .await
            .unwrap()
    );
    // A second racer with the same stale view loses.
    assert!(
        !store
            .take_over(&expired.effect_id, "w1", "w3", LIVE)
            .await
            .unwrap()
    );

    let row = store.get_effect(&expired.effect_id).await.unwrap().unwrap();
    assert_eq!(row.owner.as_deref(), Some("w2"));
    assert_eq!(row.attempts, 2);
}

#[tokio::test]
async fn take_over_never_reopens_a_done_effect() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let c = claim_for("r1", "w1", Duration::ZERO);
    store.claim(c.clone()).await.unwrap();
    store
        .mark_done(&c.effect_id, "w1", &Receipt::ticket("p"))
        .await
        .unwrap();
    assert!(
        !store
            .take_over(&c.effect_id, "w1", "w2", LIVE)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn mark_done_is_fenced_on_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let c = claim_for("r1", "w1", Duration::ZERO);
    store.claim(c.clone()).await.unwrap();
    assert!(
        store
            .take_over(&c.effect_id, "w1", "w2", LIVE)
            .await
            .unwrap()
    );

    // The slow original owner comes back after the takeover: refused.
    assert_eq!(
        store
            .mark_done(&c.effect_id, "w1", &Receipt::ticket("p1"))
            .await
            .unwrap(),
        MarkDone::LostClaim
    );
    assert_eq!(
        store
            .mark_done(&c.effect_id, "w2", &Receipt::ticket("p2"))
            .await
            .unwrap(),
        MarkDone::Done
    );
    assert_eq!(
        store
            .mark_done(&c.effect_id, "w2", &Receipt::ticket("p2"))
            .await
            .unwrap(),
        MarkDone::AlreadyDone
    );
    assert_eq!(
        store
            .mark_done(&c.effect_id, "w1", &Receipt::ticket("p1"))
            .await
            .unwrap(),
        MarkDone::AlreadyDone
    );

    let row = store.get_effect(&c.effect_id).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.artifact_path.as_deref()),
        (EffectStatus::Done, Some("p2"))
    );

    let unknown = claim_for("nobody", "w1", LIVE).effect_id;
    assert_eq!(
        store
            .mark_done(&unknown, "w1", &Receipt::ticket("p"))
            .await
            .unwrap(),
        MarkDone::LostClaim
    );
}

#[tokio::test]
async fn heal_finishes_only_in_progress_claims() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let c = claim_for("r1", "w1", LIVE);
    store.claim(c.clone()).await.unwrap();
    assert!(
        store
            .heal(&c.effect_id, &Receipt::ticket("ticket"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .heal(&c.effect_id, &Receipt::ticket("other"))
            .await
            .unwrap()
    );
    let row = store.get_effect(&c.effect_id).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.artifact_path.as_deref()),
        (EffectStatus::Done, Some("ticket"))
    );
    assert!(
        !store
            .heal(
                &claim_for("absent", "w", LIVE).effect_id,
                &Receipt::ticket("t")
            )
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn effects_are_listed_by_run_and_by_recency() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    for run in ["a", "b", "c"] {
        store.claim(claim_for(run, "w", LIVE)).await.unwrap();
    }
    let a = claim_for("a", "w", LIVE).effect_id;
    store
        .mark_done(&a, "w", &Receipt::ticket("p"))
        .await
        .unwrap();

    let recent = store.list_effects(2).await.unwrap();
    assert_eq!(recent.len(), 2);
    assert!(recent[0].updated_ms >= recent[1].updated_ms);
    let for_b = store
        .effects_for_run(&RunId::parse("b").unwrap())
        .await
        .unwrap();
    assert_eq!(for_b.len(), 1);
    assert_eq!(for_b[0].effect_id.as_str(), "b:charge_card:order-b");
    assert_eq!(
        store
            .get_effect(&claim_for("zzz", "w", LIVE).effect_id)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn two_runs_of_one_business_key_share_one_claim() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let first = claim_of_key("run1", "order-42", "w1", Duration::ZERO);
    assert_eq!(store.claim(first.clone()).await.unwrap(), Claim::Acquired);
    // A second run of the same order finds the first run's claim, not a fresh one.
    let second = claim_of_key("run2", "order-42", "w2", LIVE);
    let Claim::InProgress(row) = store.claim(second.clone()).await.unwrap() else {
        panic!("the first run's claim");
    };
    assert_eq!(row.run_id.as_str(), "run1");
    // Expired, so the second run takes it over: the row then names the second run.
    assert!(
        store
            .take_over(&second.effect_id, "w1", "w2", LIVE)
            .await
            .unwrap()
    );
    let done = store
        .mark_done(&second.effect_id, "w2", &Receipt::ticket("t"))
        .await;
    assert_eq!(done.unwrap(), MarkDone::Done);
    let row = store.get_effect(&first.effect_id).await.unwrap().unwrap();
    assert_eq!(
        (row.run_id.as_str(), row.status),
        ("run2", EffectStatus::Done)
    );
    // (Each run lists the effect of its business key: `effects_for_run` reads the key from
    // the `runs` table, which the API's tests cover end to end.)
    let third = claim_of_key("run3", "order-42", "w3", LIVE);
    assert!(matches!(
        store.claim(third).await.unwrap(),
        Claim::AlreadyDone(_)
    ));
    // A released claim (its effect failed for good) leaves nothing that blocks the key.
    let other = claim_of_key("run4", "order-43", "w4", LIVE);
    store.claim(other.clone()).await.unwrap();
    assert!(store.release_claim(&other.effect_id, "w4").await.unwrap());
    let again = claim_of_key("run5", "order-43", "w5", LIVE);
    assert_eq!(store.claim(again).await.unwrap(), Claim::Acquired);
}

#[tokio::test]
async fn a_version_4_database_gains_one_identity_per_business_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    drop(Store::open(&path).await.unwrap());
    // What a version 4 database can hold: two runs of one order, each with its own row (the
    // second one done), as effects were per run before version 5.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP INDEX idx_side_effects_effect_key;
         ALTER TABLE side_effects DROP COLUMN effect_key;
         INSERT INTO side_effects (effect_id, run_id, step_id, business_key, status,
                                   created_ms, updated_ms, payload_json, attempts)
         VALUES ('r1:charge_card:order-9', 'r1', 'charge_card', 'order-9', 'in_progress', 1, 1, '{}', 1),
                ('r2:charge_card:order-9', 'r2', 'charge_card', 'order-9', 'done', 2, 2, '{}', 1);
         PRAGMA user_version = 4;",
    )
    .unwrap();
    drop(conn);

    let store = Store::open(&path).await.unwrap();
    // The done row became the key's effect: a new run of the order skips it.
    let third = claim_of_key("r3", "order-9", "w", LIVE);
    let Claim::AlreadyDone(row) = store.claim(third).await.unwrap() else {
        panic!("the done row is the key's effect");
    };
    assert_eq!(row.run_id.as_str(), "r2");
    // The older duplicate is still there to read, but claims nothing.
    assert_eq!(store.list_effects(10).await.unwrap().len(), 2);
}
