//! The step on one message, against driftq-local in-process and a temp store: every row of
//! the exactly-once state table, the retry and the dead-letter path.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::harness::Harness;
use driftq_client::Message;
use sidefx_core::{
    Claim, Command, EffectStatus, MarkDone, NewClaim, Receipt, RunCommand, Ticket, now_ms,
};
use sidefx_testkit::poll_until;
use sidefx_worker::step::{self, StepContext};
use sidefx_worker::{Effect, EffectCtx, EffectError, SideEffect, StepOutcome, TicketEffect};

const OTHER_OWNER: &str = "another-worker";

/// Assertions only the step tests need.
impl Harness {
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
async fn a_file_that_is_not_this_effects_ticket_does_not_heal() {
    let h = Harness::start().await;
    let cmd = common::command("order-foreign");
    h.foreign_claim(&cmd, Duration::from_secs(60)).await;
    // What the original starter, or anything else, may have left at the ticket's name.
    let path = h.artifacts.ticket_path(&cmd.business_key);
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    std::fs::write(
        &path,
        br#"{"business_key":"order-foreign","note":"not ours"}"#,
    )
    .expect("write");
    assert_eq!(
        run(&h.ctx("w1"), &cmd).await,
        StepOutcome::LeaveForRedelivery,
        "a file that does not name this effect is not its proof"
    );
    assert_eq!(h.status(&cmd).await, Some(EffectStatus::InProgress));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_claim_is_taken_over_after_a_lease_watched_on_our_own_clock() {
    let h = Harness::start().await;
    let cmd = common::command("order-takeover");
    // Expired by the wall clock at once: what a taker whose clock runs ahead would see.
    h.foreign_claim(&cmd, Duration::from_millis(1)).await;
    poll_until("the claim to expire", Duration::from_secs(5), || async {
        let row = h.store.get_effect(&cmd.effect_id()).await.expect("row")?;
        row.lease_expired(now_ms()).then_some(())
    })
    .await;
    let lease = Duration::from_millis(300);
    let w1 = h.ctx_with(
        "w1",
        lease,
        Effect::new("ticket", TicketEffect::new(h.artifacts.clone(), "w1")),
    );
    let started = std::time::Instant::now();
    assert_eq!(
        run(&w1, &cmd).await,
        StepOutcome::LeaveForRedelivery,
        "first sighting: not taken over on the claimer's word alone"
    );
    let outcome = poll_until("the takeover", Duration::from_secs(5), || async {
        Some(run(&w1, &cmd).await).filter(|o| *o != StepOutcome::LeaveForRedelivery)
    })
    .await;
    assert_eq!(outcome, StepOutcome::TakenOver);
    assert!(started.elapsed() >= lease, "watched for a full lease first");
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
async fn a_claim_taken_over_max_attempts_times_is_dead_lettered_not_looped() {
    let h = Harness::start().await;
    let cmd = common::command("order-crash-loop");
    h.foreign_claim(&cmd, Duration::from_millis(1)).await;
    // Workers that died mid-effect, one after the other: each took the claim over.
    let id = cmd.effect_id();
    for n in 1..cmd.max_attempts {
        let (from, to) = (format!("dead-{}", n - 1), format!("dead-{n}"));
        let from = if n == 1 { OTHER_OWNER.to_owned() } else { from };
        let lease = Duration::from_millis(1);
        poll_until("the lease to run out", Duration::from_secs(5), || async {
            h.store
                .take_over(&id, &from, &to, lease)
                .await
                .expect("take_over")
                .then_some(())
        })
        .await;
    }
    poll_until(
        "the last lease to run out",
        Duration::from_secs(5),
        || async {
            let row = h.store.get_effect(&id).await.expect("row")?;
            row.lease_expired(now_ms()).then_some(())
        },
    )
    .await;
    let lease = Duration::from_millis(200);
    let w1 = h.ctx_with(
        "w1",
        lease,
        Effect::new("ticket", TicketEffect::new(h.artifacts.clone(), "w1")),
    );
    let outcome = poll_until(
        "the last claim to be judged",
        Duration::from_secs(5),
        || async { Some(run(&w1, &cmd).await).filter(|o| *o != StepOutcome::LeaveForRedelivery) },
    )
    .await;
    assert!(
        matches!(&outcome, StepOutcome::DeadLetter { error } if error.contains("effect_unfinished")),
        "{outcome:?}"
    );
    assert_eq!(h.status(&cmd).await, None, "the claim was given back");
    assert_eq!(h.executions().await, 0);
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
    let record = common::first_dead_letter(&h.client, Duration::from_secs(20)).await;
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

/// A user's effect that takes `for` to run and counts its calls.
#[derive(Clone)]
struct SlowEffect {
    calls: Arc<AtomicUsize>,
    takes: Duration,
}

impl SideEffect for SlowEffect {
    async fn perform(&self, ctx: &EffectCtx) -> Result<Receipt, EffectError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.takes).await;
        Ok(Receipt::Remote {
            id: ctx.idempotency_key.clone(),
        })
    }

    async fn lookup(&self, _ctx: &EffectCtx) -> Result<Option<Receipt>, EffectError> {
        Ok(None)
    }
}

fn slow(takes: Duration) -> (SlowEffect, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let effect = SlowEffect {
        calls: Arc::clone(&calls),
        takes,
    };
    (effect, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_keeps_an_effect_longer_than_its_lease_from_being_taken_over() {
    let h = Harness::start().await;
    let cmd = common::command("order-slow");
    let lease = Duration::from_millis(300);
    let (effect, calls) = slow(lease * 4);
    let w1 = h.ctx_with("w1", lease, Effect::new("slow", effect.clone()));
    let w2 = h.ctx_with("w2", lease, Effect::new("slow", effect));
    let first = tokio::spawn({
        let cmd = cmd.clone();
        async move { step::run_step(&w1, &cmd).await.expect("step") }
    });
    poll_until("w1's claim", Duration::from_secs(5), || async {
        let row = h.store.get_effect(&cmd.effect_id()).await.expect("row")?;
        (row.owner.as_deref() == Some("w1")).then_some(())
    })
    .await;
    // Meanwhile the other worker keeps getting the command (a DriftQ redelivery after the
    // shorter broker lease): the claim must stay live for as long as the effect runs.
    while !first.is_finished() {
        let outcome = run(&w2, &cmd).await;
        // AlreadyDone once w1 finished between the check and the run; never a takeover.
        assert!(
            matches!(
                outcome,
                StepOutcome::LeaveForRedelivery | StepOutcome::AlreadyDone
            ),
            "{outcome:?}"
        );
        tokio::time::sleep(lease / 4).await;
    }
    assert_eq!(first.await.expect("joined"), StepOutcome::Done);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one execution");
    assert_eq!(run(&w2, &cmd).await, StepOutcome::AlreadyDone);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_loses_its_claim_mid_effect_stops_and_does_not_mark_done() {
    let h = Harness::start().await;
    let cmd = common::command("order-lost");
    let lease = Duration::from_millis(300);
    let (effect, _calls) = slow(lease * 4);
    let w1 = h.ctx_with("w1", lease, Effect::new("slow", effect));
    let first = tokio::spawn({
        let cmd = cmd.clone();
        async move { step::run_step(&w1, &cmd).await.expect("step") }
    });
    poll_until("the claim", Duration::from_secs(5), || async {
        h.store
            .get_effect(&cmd.effect_id())
            .await
            .expect("row")
            .map(|_| ())
    })
    .await;
    // Gone from under it (what a takeover after a long pause looks like to the old owner).
    assert!(
        h.store
            .release_claim(&cmd.effect_id(), "w1")
            .await
            .expect("release")
    );
    assert_eq!(
        first.await.expect("joined"),
        StepOutcome::LeaveForRedelivery
    );
    assert_eq!(
        h.status(&cmd).await,
        None,
        "not marked done by the worker that lost it"
    );
}
