//! The worker's command intake against forged commands: a table of commands someone
//! produced to `sidefx.commands` without the API (an unknown run, a negative amount, retry
//! limits far above the caps, …), each dead-lettered with its reason and acked, with no
//! execution of the effect (counted in the ticket ledger). Also: chaos switches are ignored
//! unless `SIDEFX_CHAOS` is on.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::harness::Harness;
use driftq_client::{ConsumeRequest, Message};
use futures::StreamExt;
use sidefx_core::{
    BusinessKey, Command, CreateRun, DLQ_TOPIC, DlqRecord, FailMode, NewRun, RunCommand, RunId,
    StepId,
};
use sidefx_worker::StepOutcome;
use sidefx_worker::step::{self, StepContext};

/// Setup and reads only the intake tests need.
impl Harness {
    /// A command for a run the API registered (a row in `runs`).
    async fn registered(&self, key: &str) -> RunCommand {
        let cmd = common::command(key);
        let created = self
            .store
            .create_run(NewRun {
                run_id: cmd.run_id.clone(),
                business_key: cmd.business_key.clone(),
                request_json: "{}".to_owned(),
                idempotency_key: None,
                request_fingerprint: String::new(),
            })
            .await
            .expect("create_run");
        assert!(matches!(created, CreateRun::Created(_)), "{created:?}");
        cmd
    }

    /// Reads `n` records from the DLQ topic, keyed by run id.
    async fn dead_letters(&self, n: usize) -> HashMap<RunId, DlqRecord> {
        let request =
            ConsumeRequest::new(DLQ_TOPIC, "test-dlq", "reader").lease(Duration::from_secs(30));
        let mut stream = self.client.consume(request.clone());
        let mut records = HashMap::new();
        let read = async {
            while records.len() < n {
                match stream.next().await {
                    Some(Ok(msg)) => {
                        let _ = self.client.ack(&request.ack_target(&msg)).await;
                        let record: DlqRecord = serde_json::from_str(&msg.value).expect("decodes");
                        records.insert(record.run_id.clone(), record);
                    }
                    Some(Err(_)) => {}
                    None => panic!("the DLQ stream ended"),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .expect("every refusal is on the DLQ");
        records
    }
}

/// `cmd` as the broker delivers it.
fn delivered(cmd: &RunCommand) -> Message {
    let value = serde_json::to_string(&Command::Run(cmd.clone())).expect("encode");
    serde_json::from_value(serde_json::json!({
        "partition": 0, "offset": 0, "attempts": 1, "key": cmd.run_id.as_str(), "value": value,
    }))
    .expect("message")
}

async fn handle(ctx: &StepContext, cmd: &RunCommand) -> StepOutcome {
    step::handle_message(ctx, &delivered(cmd))
        .await
        .expect("handled")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_commands_are_dead_lettered_with_their_reason_and_never_executed() {
    let h = Harness::start().await;
    let victim = h.registered("victim").await;
    let other = h.registered("other").await;
    // Each row: what the forger sent, and the field the refusal must name.
    let forged: Vec<(RunCommand, &str)> = vec![
        (common::command("ghost"), "run_id"),
        (
            RunCommand {
                amount: -100.0,
                ..h.registered("negative").await
            },
            "amount",
        ),
        (
            RunCommand {
                amount: -0.0,
                ..h.registered("minus-zero").await
            },
            "amount",
        ),
        (
            RunCommand {
                max_attempts: 100_000,
                ..h.registered("retry-forever").await
            },
            "max_attempts",
        ),
        (
            RunCommand {
                max_attempts: 21,
                ..h.registered("one-over").await
            },
            "max_attempts",
        ),
        (
            RunCommand {
                fail_before_effect_n: 1000,
                ..h.registered("fail-a-lot").await
            },
            "fail_before_effect_n",
        ),
        (
            RunCommand {
                attempt: 3,
                ..h.registered("past-the-last").await
            },
            "attempt",
        ),
        (
            RunCommand {
                step_id: StepId::parse("refund").unwrap(),
                ..h.registered("other-step").await
            },
            "step_id",
        ),
        (
            RunCommand {
                events_topic: other.events_topic.clone(),
                ..h.registered("elsewhere").await
            },
            "events_topic",
        ),
        (
            RunCommand {
                business_key: BusinessKey::parse("not-victim").unwrap(),
                ..victim.clone()
            },
            "business_key",
        ),
    ];
    let ctx = h.ctx("w1");
    for (cmd, field) in &forged {
        let outcome = handle(&ctx, cmd).await;
        let StepOutcome::Refused { reason } = &outcome else {
            panic!("{field}: expected a refusal, got {outcome:?} for {cmd:?}");
        };
        assert!(
            reason.starts_with(&format!("{field}:")),
            "{field}: {reason}"
        );
        assert!(outcome.acks(), "a refusal is acked");
    }
    assert_eq!(
        h.executions().await,
        0,
        "no forged command executed the effect"
    );
    let records = h.dead_letters(forged.len()).await;
    for (cmd, field) in &forged {
        let record = &records[&cmd.run_id];
        assert!(record.refused, "{record:?}");
        assert!(record.error.starts_with(&format!("{field}:")), "{record:?}");
        assert!(
            h.store
                .effects_for_run(&cmd.run_id)
                .await
                .unwrap()
                .is_empty()
        );
    }
    // The victim's own command still runs, once: refusals are keyed apart from its DLQ key.
    assert_eq!(handle(&ctx, &victim).await, StepOutcome::Done);
    assert_eq!(h.executions().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_switches_are_ignored_unless_chaos_is_on() {
    let h = Harness::start().await;
    let cmd = RunCommand {
        fail_before_effect_n: 2,
        fail_mode: FailMode::CrashAfterEffectBeforeMarkDone,
        ..h.registered("no-chaos").await
    };
    // With the switches honoured the first attempt would fail on purpose (and a later one
    // end this test process with exit 137).
    let no_chaos = StepContext {
        chaos: false,
        ..h.ctx("w1")
    };
    assert_eq!(handle(&no_chaos, &cmd).await, StepOutcome::Done);
    assert_eq!(h.executions().await, 1);
    let chaotic = RunCommand {
        fail_before_effect_n: 1,
        ..h.registered("chaos-on").await
    };
    assert!(
        matches!(
            handle(&h.ctx("w1"), &chaotic).await,
            StepOutcome::RetryAfter(_)
        ),
        "SIDEFX_CHAOS on: the forced failure happens"
    );
}
