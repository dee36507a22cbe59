//! The runs' durable history (recorded once per key, in order, paged) and the dead-letter
//! actions (redrive, discard: their checks, what they change, what they record).

use std::time::Duration;

use sidefx_core::{
    BusinessKey, Claim, CreateRun, Discard, EffectId, Event, NewClaim, NewRun, Receipt, Redrive,
    RedriveRefused, RunId, RunRequest, RunRow, RunStatus, StepId, Store, now_ms,
};

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.sqlite")).await.unwrap();
    (dir, store)
}

fn request(key: &str) -> RunRequest {
    RunRequest {
        business_key: BusinessKey::parse(key).unwrap(),
        amount: 9.5,
        fail_before_effect_n: 0,
        fail_mode: sidefx_core::FailMode::None,
        max_attempts: 3,
    }
}

fn new_run(run: &str, key: &str) -> NewRun {
    let request_json = request(key).canonical_json().unwrap();
    NewRun {
        run_id: RunId::parse(run).unwrap(),
        business_key: request(key).business_key,
        request_fingerprint: request_json.clone(),
        request_json,
        idempotency_key: Some(format!("idem-{run}")),
    }
}

fn created(run: &RunRow) -> Event {
    Event::RunCreated {
        ts: run.created_ms,
        run_id: run.run_id.clone(),
        business_key: run.business_key.clone(),
        amount: 9.5,
    }
}

fn completed(run: &str) -> Event {
    Event::RunCompleted {
        ts: now_ms(),
        run_id: RunId::parse(run).unwrap(),
    }
}

/// A run accepted with its first event, then dead-lettered after `attempts` attempts.
async fn dead_letter(store: &Store, run: &str, key: &str, attempts: u32) -> RunRow {
    let outcome = store
        .accept_run_recording(new_run(run, key), 10, 0, |row| vec![created(row)])
        .await
        .unwrap();
    let CreateRun::Created(row) = outcome else {
        panic!("{outcome:?}")
    };
    store
        .update_run(&row.run_id, RunStatus::DeadLettered, attempts)
        .await
        .unwrap();
    store.get_run(&row.run_id).await.unwrap().unwrap()
}

fn redrive(run: &str, max_redrives: u32) -> Redrive {
    Redrive {
        run_id: RunId::parse(run).unwrap(),
        by: "ops@example".into(),
        reason: Some("provider fixed".into()),
        max_redrives,
    }
}

async fn kinds(store: &Store, run: &str) -> Vec<String> {
    let run = RunId::parse(run).unwrap();
    let history = store.run_history(&run, 0, 100).await.unwrap();
    history.into_iter().map(|e| e.kind).collect()
}

#[tokio::test]
async fn events_are_recorded_once_per_key_in_order_and_paged() {
    let (_dir, store) = store().await;
    let outcome = store
        .accept_run_recording(new_run("r1", "k1"), 10, 0, |row| vec![created(row)])
        .await
        .unwrap();
    assert!(matches!(outcome, CreateRun::Created(_)));
    // A replay of the idempotency key records nothing more.
    let again = NewRun {
        run_id: RunId::parse("r1b").unwrap(),
        ..new_run("r1", "k1")
    };
    let replay = store
        .accept_run_recording(again, 10, 0, |_| panic!("not for a replay"))
        .await;
    assert!(matches!(replay, Ok(CreateRun::Replayed(_))), "{replay:?}");

    store.record_events(vec![completed("r1")]).await.unwrap();
    // Emitted again (a redelivered step): the same key, kept once.
    store.record_events(vec![completed("r1")]).await.unwrap();
    store.record_events(vec![completed("r2")]).await.unwrap();
    assert_eq!(kinds(&store, "r1").await, ["run.created", "run.completed"]);

    let r1 = RunId::parse("r1").unwrap();
    let first = store.run_history(&r1, 0, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    let rest = store.run_history(&r1, first[0].seq, 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert!(rest[0].seq > first[0].seq);
    assert!(rest[0].is_terminal());
    assert!(
        matches!(rest[0].decode().unwrap(), Event::RunCompleted { run_id, .. } if run_id == r1)
    );

    // The feed sees every run's events, in order; the last seq is the newest.
    let all = store.events_since(0, 100).await.unwrap();
    let seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs.len(), 3);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(store.last_event_seq().await.unwrap(), *seqs.last().unwrap());
    assert!(store.events_since(seqs[2], 100).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_redrive_queues_the_dead_letter_with_a_new_budget_and_records_it() {
    let (_dir, store) = store().await;
    dead_letter(&store, "r1", "k1", 3).await;

    let run = store
        .redrive_dead_letter(redrive("r1", 2))
        .await
        .unwrap()
        .expect("redriven");
    assert_eq!(run.status, RunStatus::Queued);
    assert_eq!((run.dlq_redrives, run.attempt_budget), (1, Some(6)));
    assert_eq!(run.redrives, 0);
    // The command goes on from the last attempt, with the round in its keys.
    let command = run.current_command(1).unwrap();
    assert_eq!((command.attempt, command.max_attempts), (3, 6));
    assert_eq!(command.redrive, Some(1));
    assert_eq!(command.idempotency_key(), "cmd:r1:charge_card:k1:a3");

    let history = store.run_history(&run.run_id, 0, 10).await.unwrap();
    let Event::RunRedriven {
        by,
        reason,
        redrive: round,
        attempt,
        ..
    } = history.last().unwrap().decode().unwrap()
    else {
        panic!("{history:?}")
    };
    assert_eq!(
        (by.as_str(), reason.as_deref(), round, attempt),
        ("ops@example", Some("provider fixed"), 1, 3)
    );

    // Not a dead letter any more: refused, nothing changes.
    let again = store.redrive_dead_letter(redrive("r1", 2)).await.unwrap();
    assert!(
        matches!(
            again,
            Err(RedriveRefused::NotDeadLettered {
                status: RunStatus::Queued,
                ..
            })
        ),
        "{again:?}"
    );
    // Dead-lettered again (the round's attempts failed): one more is allowed, then the cap.
    store
        .update_run(&run.run_id, RunStatus::DeadLettered, 6)
        .await
        .unwrap();
    let second = store
        .redrive_dead_letter(redrive("r1", 2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.dlq_redrives, second.attempt_budget), (2, Some(9)));
    store
        .update_run(&run.run_id, RunStatus::DeadLettered, 9)
        .await
        .unwrap();
    let capped = store.redrive_dead_letter(redrive("r1", 2)).await.unwrap();
    assert!(
        matches!(capped, Err(RedriveRefused::CapReached { redrives: 2, .. })),
        "{capped:?}"
    );
    assert_eq!(
        kinds(&store, "r1").await,
        ["run.created", "run.redriven", "run.redriven"]
    );
    let unknown = store.redrive_dead_letter(redrive("nope", 2)).await.unwrap();
    assert!(matches!(unknown, Err(RedriveRefused::NotFound(_))));
}

#[tokio::test]
async fn a_dead_letter_whose_effect_is_done_is_not_redriven() {
    let (_dir, store) = store().await;
    // Run a charged order k1; run b, a second run of k1, dead-lettered before its effect.
    let a = RunId::parse("a").unwrap();
    let key = BusinessKey::parse("k1").unwrap();
    let claim = NewClaim {
        effect_id: EffectId::new(&a, &StepId::charge_card(), &key),
        run_id: a.clone(),
        step_id: StepId::charge_card(),
        business_key: key,
        payload_json: "{}".into(),
        owner: "w1".into(),
        lease: Duration::from_secs(30),
    };
    assert_eq!(store.claim(claim.clone()).await.unwrap(), Claim::Acquired);
    dead_letter(&store, "b", "k1", 3).await;
    store
        .mark_done(&claim.effect_id, "w1", &Receipt::ticket("p"))
        .await
        .unwrap();
    let refused = store.redrive_dead_letter(redrive("b", 3)).await.unwrap();
    let Err(RedriveRefused::EffectDone { done_by, .. }) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(done_by, a);
    let b = store
        .get_run(&RunId::parse("b").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((b.status, b.dlq_redrives), (RunStatus::DeadLettered, 0));
    assert_eq!(kinds(&store, "b").await, ["run.created"]);
}

#[tokio::test]
async fn a_discard_is_final_and_says_why() {
    let (_dir, store) = store().await;
    dead_letter(&store, "r1", "k1", 3).await;
    let discard = Discard {
        run_id: RunId::parse("r1").unwrap(),
        by: "ops".into(),
        reason: "customer cancelled".into(),
    };
    let run = store
        .discard_dead_letter(discard.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, RunStatus::Discarded);
    assert!(run.status.is_final());
    // No worker update moves it, and it cannot be discarded or redriven again.
    store
        .update_run(&run.run_id, RunStatus::Running, 4)
        .await
        .unwrap();
    let row = store.get_run(&run.run_id).await.unwrap().unwrap();
    assert_eq!(row.status, RunStatus::Discarded);
    assert!(store.discard_dead_letter(discard).await.unwrap().is_err());
    assert!(
        store
            .redrive_dead_letter(redrive("r1", 3))
            .await
            .unwrap()
            .is_err()
    );
    assert_eq!(kinds(&store, "r1").await, ["run.created", "run.discarded"]);
    // Listed among the stopped runs.
    let page = store
        .list_runs_page(sidefx_core::RunFilter {
            status: Some(RunStatus::Discarded),
            business_key: None,
            before: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(page.runs.len(), 1);
}

#[tokio::test]
async fn the_current_command_follows_the_runs_status() {
    let (_dir, store) = store().await;
    let outcome = store.create_run(new_run("r1", "k1")).await.unwrap();
    let CreateRun::Created(mut row) = outcome else {
        panic!()
    };
    let attempt = |row: &RunRow| row.current_command(1).unwrap().attempt;
    assert_eq!(attempt(&row), 0);
    for (status, attempts, expected) in [
        (RunStatus::Running, 1, 0),
        (RunStatus::Running, 3, 2),
        (RunStatus::Retrying, 1, 1),
        (RunStatus::Retrying, 4, 4),
    ] {
        row.status = status;
        row.attempts = attempts;
        assert_eq!(attempt(&row), expected, "{status} {attempts}");
    }
    let command = row.current_command(1).unwrap();
    assert_eq!((command.max_attempts, command.redrive), (3, None));
}
