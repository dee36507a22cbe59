//! The step on one message, against driftq-local in-process and a temp store: every row of
//! the exactly-once state table, the retry and the dead-letter path.

mod common;

use std::sync::Arc;
use std::time::Duration;

use driftq_client::{Client, ConsumeRequest, Message};
use futures::StreamExt;
use sidefx_core::{
    Artifacts, Claim, Command, DLQ_TOPIC, DlqRecord, EffectStatus, MarkDone, NewClaim, Publisher,
    Receipt, RunCommand, Store, Ticket, now_ms,
};
use sidefx_worker::local_claims::LocalClaims;
use sidefx_worker::retry_policy::RetryPolicy;
use sidefx_worker::step::{self, StepContext};
use sidefx_worker::{Effect, StepOutcome, TicketEffect};
use tempfile::TempDir;
use tokio::sync::Notify;

const OTHER_OWNER: &str = "another-worker";

struct Harness {
    _dir: TempDir,
    _broker: driftq_local::Broker,
    client: Client,
    store: Store,
    artifacts: Artifacts,
}

impl Harness {
    async fn start() -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = common::broker(dir.path()).await;
        Harness {
            client: Client::new(&broker.base_url()).expect("client"),
            store: Store::open(&dir.path().join("db.sqlite"))
                .await
                .expect("store"),
            artifacts: Artifacts::new(dir.path().join("artifacts")),
            _broker: broker,
            _dir: dir,
        }
    }

    /// A step context as worker `owner` (each gets its own process-local claim set).
    fn ctx(&self, owner: &str) -> StepContext {
        StepContext {
            store: self.store.clone(),
            effect: Effect::new("ticket", TicketEffect::new(self.artifacts.clone(), owner)),
            publisher: Publisher::new(self.client.clone()),
            owner: owner.to_owned(),
            lease: Duration::from_secs(30),
            retry_policy: RetryPolicy::new(Duration::from_millis(200), Duration::from_millis(1000)),
            local_claims: LocalClaims::new(),
            retry_wakeup: Arc::new(Notify::new()),
            mutation: None,
            chaos: true,
        }
    }

    /// Another worker's claim on the command's effect, with `lease`.
    async fn foreign_claim(&self, cmd: &RunCommand, lease: Duration) {
        let claim = NewClaim::for_command(cmd, OTHER_OWNER, lease).expect("claim");
        assert_eq!(
            self.store.claim(claim).await.expect("claim"),
            Claim::Acquired
        );
    }

    async fn status(&self, cmd: &RunCommand) -> Option<EffectStatus> {
        self.store
            .get_effect(&cmd.effect_id())
            .await
            .expect("get_effect")
            .map(|row| row.status)
    }

    /// Executions of the effect, from the ticket effect's ledger (not from files, which the
    /// create-only link caps at one whatever the step does).
    async fn executions(&self) -> usize {
        self.artifacts.read_ledger().await.expect("ledger").len()
    }

    async fn tickets(&self) -> usize {
        self.artifacts
            .list_tickets(1000)
            .await
            .expect("list_tickets")
            .len()
    }
}

async fn run(ctx: &StepContext, cmd: &RunCommand) -> StepOutcome {
    step::run_step(ctx, cmd).await.expect("step succeeds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_row_claims_performs_and_marks_done() {
    let h = Harness::start().await;
    let cmd = common::command("order-1");
    assert_eq!(run(&h.ctx("w1"), &cmd).await, StepOutcome::Done);
    assert_eq!(h.status(&cmd).await, Some(EffectStatus::Done));
    assert_eq!(h.tickets().await, 1);
    assert_eq!(h.executions().await, 1);
    let row = h.store.get_effect(&cmd.effect_id()).await.unwrap().unwrap();
    assert!(
        matches!(&row.receipt, Some(Receipt::Ticket { path }) if path.ends_with("ticket_order-1.json")),
        "the done row holds the receipt: {:?}",
        row.receipt
    );
    let events = common::events_until(&h.client, &cmd.run_id, Duration::from_secs(20), |e| {
        e.last().is_some_and(|e| e.kind() == "run.completed")
    })
    .await;
    common::assert_in_order(
        &common::kinds(&events),
        &[
            "step.started",
            "side_effect.executing",
            "side_effect.done",
            "step.completed",
            "run.completed",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_deliveries_perform_the_effect_once() {
    let h = Harness::start().await;
    let cmd = common::command("order-dup");
    let (a, b) = (h.ctx("w1"), h.ctx("w2"));
    // Two workers and a second task of the first one, all at once on one command.
    let (x, y, z) = tokio::join!(run(&a, &cmd), run(&b, &cmd), run(&a, &cmd));
    let outcomes = [x, y, z];
    assert_eq!(
        outcomes.iter().filter(|o| **o == StepOutcome::Done).count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().all(|o| matches!(
            o,
            StepOutcome::Done
                | StepOutcome::AlreadyDone
                | StepOutcome::Healed
                | StepOutcome::LeaveForRedelivery
        )),
        "{outcomes:?}"
    );
    // A redelivery after all that is skipped.
    assert_eq!(run(&b, &cmd).await, StepOutcome::AlreadyDone);
    let rows = h.store.effects_for_run(&cmd.run_id).await.expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(h.tickets().await, 1);
    assert_eq!(h.executions().await, 1, "four deliveries, one execution");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn done_row_is_skipped_without_the_effect() {
    let h = Harness::start().await;
    let cmd = common::command("order-done");
    h.foreign_claim(&cmd, Duration::from_secs(60)).await;
    let marked = h
        .store
        .mark_done(&cmd.effect_id(), OTHER_OWNER, &Receipt::ticket("elsewhere"))
        .await
        .expect("mark_done");
    assert_eq!(marked, MarkDone::Done);
    assert_eq!(run(&h.ctx("w1"), &cmd).await, StepOutcome::AlreadyDone);
    assert_eq!(h.tickets().await, 0, "the effect was not performed again");
    assert_eq!(h.executions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_progress_with_artifact_is_healed() {
    let h = Harness::start().await;
    let cmd = common::command("order-heal");
    h.foreign_claim(&cmd, Duration::from_secs(60)).await;
    h.artifacts
        .write_ticket(&Ticket::for_command(&cmd, now_ms()))
        .await
        .expect("ticket");
    assert_eq!(run(&h.ctx("w1"), &cmd).await, StepOutcome::Healed);
    assert_eq!(h.status(&cmd).await, Some(EffectStatus::Done));
    assert_eq!(h.tickets().await, 1);
    assert_eq!(
        h.executions().await,
        0,
        "healed from the receipt, not performed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_runs_ticket_for_the_same_key_does_not_heal() {
    let h = Harness::start().await;
    let cmd = common::command("order-shared");
    let other_run = common::command("order-shared");
    h.foreign_claim(&cmd, Duration::from_secs(60)).await;
    h.artifacts
        .write_ticket(&Ticket::for_command(&other_run, now_ms()))
        .await
        .expect("ticket");
    assert_eq!(
        run(&h.ctx("w1"), &cmd).await,
        StepOutcome::LeaveForRedelivery,
        "a ticket naming another effect is not this effect's proof"
    );
    assert_eq!(h.status(&cmd).await, Some(EffectStatus::InProgress));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_claim_is_taken_over() {
    let h = Harness::start().await;
    let cmd = common::command("order-takeover");
    h.foreign_claim(&cmd, Duration::from_millis(1)).await;
    common::poll("the claim to expire", Duration::from_secs(5), || async {
        let row = h.store.get_effect(&cmd.effect_id()).await.expect("row")?;
        row.lease_expired(now_ms()).then_some(())
    })
    .await;
    assert_eq!(run(&h.ctx("w1"), &cmd).await, StepOutcome::TakenOver);
    let row = h
        .store
        .get_effect(&cmd.effect_id())
        .await
        .expect("row")
        .expect("exists");
    assert_eq!(row.status, EffectStatus::Done);
    assert_eq!(row.owner.as_deref(), Some("w1"));
    assert_eq!(h.tickets().await, 1);
    assert_eq!(h.executions().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_claim_of_another_owner_is_left_for_redelivery() {
    let h = Harness::start().await;
    let cmd = common::command("order-live");
    h.foreign_claim(&cmd, Duration::from_secs(60)).await;
    assert_eq!(
        run(&h.ctx("w1"), &cmd).await,
        StepOutcome::LeaveForRedelivery
    );
    assert_eq!(h.status(&cmd).await, Some(EffectStatus::InProgress));
    assert_eq!(h.tickets().await, 0);
    assert_eq!(h.executions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_failure_schedules_a_retry_in_the_outbox() {
    let h = Harness::start().await;
    let cmd = RunCommand {
        fail_before_effect_n: 1,
        ..common::command("order-retry")
    };
    let StepOutcome::RetryAfter(backoff) = run(&h.ctx("w1"), &cmd).await else {
        panic!("expected RetryAfter");
    };
    assert!(
        backoff >= Duration::from_millis(100) && backoff <= Duration::from_millis(200),
        "{backoff:?}"
    );
    let due = h
        .store
        .due_retries(i64::MAX, 10)
        .await
        .expect("due_retries");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].key, cmd.next_attempt(0).idempotency_key());
    let Command::Run(retry) = serde_json::from_str(&due[0].command_json).expect("decodes");
    assert_eq!(retry.attempt, 1);
    assert_eq!(
        h.status(&cmd).await,
        None,
        "nothing claimed before the effect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_attempt_is_dead_lettered() {
    let h = Harness::start().await;
    let cmd = RunCommand {
        attempt: 2,
        max_attempts: 3,
        fail_before_effect_n: 5,
        ..common::command("order-dlq")
    };
    let outcome = run(&h.ctx("w1"), &cmd).await;
    assert!(
        matches!(outcome, StepOutcome::DeadLetter { .. }),
        "{outcome:?}"
    );
    assert!(
        h.store
            .due_retries(i64::MAX, 10)
            .await
            .expect("due")
            .is_empty()
    );
    let request =
        ConsumeRequest::new(DLQ_TOPIC, "test-dlq-reader", "reader").lease(Duration::from_secs(30));
    let mut dlq = h.client.consume(request);
    let msg: Message = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match dlq.next().await {
                Some(Ok(msg)) => return msg,
                // A transient error: the consumer reconnects by itself.
                Some(Err(_)) => continue,
                // The stream ended for good (e.g. the topic does not exist): fail, don't spin.
                None => panic!("the consume stream ended"),
            }
        }
    })
    .await
    .expect("a DLQ record");
    let record: DlqRecord = serde_json::from_str(&msg.value).expect("decodes");
    assert_eq!(record.run_id, cmd.run_id);
    assert_eq!(record.attempt, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_message_is_acked_not_retried() {
    let h = Harness::start().await;
    let msg: Message = serde_json::from_str(
        r#"{"partition":0,"offset":0,"attempts":1,"key":"","value":"{not json","last_error":""}"#,
    )
    .expect("message");
    let outcome = step::handle_message(&h.ctx("w1"), &msg)
        .await
        .expect("handled");
    assert!(
        matches!(outcome, StepOutcome::Undecodable { .. }),
        "{outcome:?}"
    );
    assert!(outcome.acks());
}
