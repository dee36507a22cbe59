//! The run outbox across an API crash: a run stored with its outbox row and never published
//! (the API died right after the commit) is published by the next API's relay, once; a row
//! whose run a worker already started (the API died after publishing, before clearing it) is
//! cleared without publishing anything again.

mod common;

use common::{ApiServer, DEADLINE, api_config, read_all, spawn_broker, value};
use sidefx_core::{
    BusinessKey, COMMANDS_PARTITIONS, COMMANDS_TOPIC, CreateRun, FailMode, NewRun, RunId,
    RunRequest, RunStatus, Store,
};
use sidefx_testkit::poll_until;

/// Stores a run as `POST /runs` does (run and outbox row, due at once), without publishing.
async fn accepted_unpublished(store: &Store, key: &str) -> RunId {
    let request = RunRequest {
        business_key: BusinessKey::parse(key).unwrap(),
        amount: 3.0,
        fail_before_effect_n: 0,
        fail_mode: FailMode::None,
        max_attempts: 3,
    };
    let request_json = request.canonical_json().unwrap();
    let new_run = NewRun {
        run_id: RunId::generate(),
        business_key: request.business_key,
        request_fingerprint: request_json.clone(),
        request_json,
        idempotency_key: None,
    };
    let created = store.accept_run(new_run, 10, 0).await.unwrap();
    let CreateRun::Created(run) = created else {
        panic!("{created:?}")
    };
    run.run_id
}

#[tokio::test]
async fn a_restarted_api_publishes_what_it_owed_and_clears_what_it_had_published() {
    let dir = tempfile::tempdir().unwrap();
    let broker = spawn_broker(dir.path()).await;
    let config = api_config(&broker.base_url(), dir.path());
    let store = Store::open(&config.store.db_path).await.unwrap();
    let owed = accepted_unpublished(&store, "owed").await;
    let started = accepted_unpublished(&store, "started").await;
    store
        .update_run(&started, RunStatus::Running, 1)
        .await
        .unwrap();
    let client = driftq_client::Client::new(&broker.base_url()).unwrap();
    client
        .create_topic(COMMANDS_TOPIC, COMMANDS_PARTITIONS)
        .await
        .unwrap();

    let api = ApiServer::start(&config).await;
    poll_until("the run outbox to be empty", DEADLINE, || async {
        (store.pending_run_count().await.unwrap() == 0).then_some(())
    })
    .await;
    let commands = read_all(&client, COMMANDS_TOPIC).await;
    let runs: Vec<_> = commands
        .iter()
        .map(|m| value(m)["run_id"].clone())
        .collect();
    assert_eq!(runs, [owed.as_str()], "only the owed run's command");
    let events = read_all(&client, &format!("sidefx.events.{owed}")).await;
    let types: Vec<_> = events.iter().map(|m| value(m)["type"].clone()).collect();
    assert_eq!(types, ["run.created", "command.enqueued"]);
    api.stop().await;
}
