//! The verifier against hand-built stores: each invariant is broken on purpose in a temp
//! store and artifacts dir, and must be reported; a healthy setup must report clean.

use std::time::Duration;

// A directory named like the test keeps its helpers out of cargo's test discovery.
#[path = "verify/fixture.rs"]
mod fixture;

use sidefx_core::verify::{ViolationKind, WarningKind};
use sidefx_core::{
    DlqRecord, EffectId, MarkDone, Receipt, RunCommand, RunStatus, VerifyOptions, now_ms,
};

use fixture::{Fixture, LEASE, command, only_violation, strict};

#[tokio::test]
async fn a_healthy_store_is_clean() {
    let f = Fixture::new().await;
    for i in 0..3 {
        f.complete(&format!("run-{i}"), &format!("order-{i}"), 10.0)
            .await;
    }
    let cmd = f.run("run-dl", "order-dl", 5.0).await;
    f.set_status(&cmd, RunStatus::DeadLettered).await;
    let record = DlqRecord::for_command(&cmd, "gave up", now_ms());
    assert!(f.store.archive_dead_letter(&record).await.unwrap());

    let report = f.verify_strict().await;
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        report.to_string(),
        "verify: clean — 3 done effects, 3 tickets, 3 runs completed, 1 dead-lettered"
    );
    assert_eq!(
        (report.counts.runs, report.counts.dead_letters_archived),
        (4, 1)
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["clean"], true);
    assert_eq!(json["counts"]["done_effects"], 3);
}

#[tokio::test]
async fn a_claim_without_ticket_whose_lease_expired_is_stale() {
    let f = Fixture::new().await;
    let cmd = f.run("run-1", "order-1", 1.0).await;
    f.claim(&cmd, Duration::ZERO).await;
    // A live system gets the grace period: a lease that just expired is being taken over.
    let live = f.verify_with(VerifyOptions::default()).await;
    assert!(live.is_clean(), "{live}");
    assert_eq!(
        (live.counts.in_progress_effects, live.counts.runs_in_flight),
        (1, 1)
    );

    let report = f
        .verify_with(VerifyOptions {
            stale_after: Duration::ZERO,
            ..VerifyOptions::default()
        })
        .await;
    let ViolationKind::StaleClaim {
        effect_id, owner, ..
    } = only_violation(&report)
    else {
        panic!("{report}");
    };
    assert_eq!(
        (effect_id, owner.as_deref()),
        (&cmd.effect_id(), Some("worker-1"))
    );
}

#[tokio::test]
async fn a_ticket_without_a_row_is_reported() {
    let f = Fixture::new().await;
    let cmd = command("run-1", "order-1", 1.0);
    f.ticket(&cmd).await;
    let report = f.verify_strict().await;
    let expected = ViolationKind::TicketWithoutRow {
        business_key: cmd.business_key.clone(),
        effect_id: cmd.effect_id(),
    };
    assert_eq!(only_violation(&report), &expected);
    assert!(report.to_string().contains("1 violation(s)"), "{report}");
}

#[tokio::test]
async fn a_ticket_whose_row_is_still_in_progress_is_an_unrecorded_effect() {
    let f = Fixture::new().await;
    let cmd = f.run("run-1", "order-1", 1.0).await;
    f.claim(&cmd, Duration::ZERO).await;
    f.ticket(&cmd).await;
    let report = f
        .verify_with(VerifyOptions {
            settle_after: LEASE,
            ..strict()
        })
        .await;
    assert!(
        matches!(only_violation(&report), ViolationKind::UnrecordedEffect { effect_id, .. } if *effect_id == cmd.effect_id()),
        "{report}"
    );
}

#[tokio::test]
async fn a_done_row_with_a_mismatching_ticket_is_reported() {
    let f = Fixture::new().await;
    let cmd = f.run("run-1", "order-1", 10.0).await;
    f.claim(&cmd, LEASE).await;
    // The ticket says 11 where the claimed command said 10.
    let path = f
        .ticket(&RunCommand {
            amount: 11.0,
            ..cmd.clone()
        })
        .await;
    let done = f
        .store
        .mark_done(&cmd.effect_id(), "worker-1", &Receipt::ticket(path.clone()))
        .await;
    assert_eq!(done.unwrap(), MarkDone::Done);
    f.set_status(&cmd, RunStatus::Completed).await;

    let report = f.verify_strict().await;
    let ViolationKind::TicketMismatch {
        field,
        expected,
        found,
        ..
    } = only_violation(&report)
    else {
        panic!("{report}");
    };
    assert_eq!(
        (field.as_str(), expected.as_str(), found.as_str()),
        ("amount", "10", "11")
    );
}

#[tokio::test]
async fn a_done_row_without_its_ticket_is_reported() {
    let f = Fixture::new().await;
    let cmd = f.complete("run-1", "order-1", 1.0).await;
    std::fs::remove_file(f.artifacts.ticket_path(&cmd.business_key)).unwrap();
    let report = f.verify_strict().await;
    assert!(matches!(
        only_violation(&report),
        ViolationKind::MissingTicket { .. }
    ));
}

#[tokio::test]
async fn an_unfinished_run_is_reported_only_after_the_settle_time() {
    let f = Fixture::new().await;
    let cmd = f.run("run-1", "order-1", 1.0).await;
    f.set_status(&cmd, RunStatus::Running).await;
    let live = f.verify_with(VerifyOptions::default()).await;
    assert!(live.is_clean(), "{live}");
    assert_eq!(live.counts.runs_in_flight, 1);

    let report = f.verify_strict().await;
    let ViolationKind::RunNotFinished { run_id, status, .. } = only_violation(&report) else {
        panic!("{report}");
    };
    assert_eq!((run_id, *status), (&cmd.run_id, RunStatus::Running));
}

#[tokio::test]
async fn two_effects_for_one_step_of_one_run_are_reported() {
    let f = Fixture::new().await;
    let first = f.complete("run-1", "order-1", 1.0).await;
    // The same run and step again, under another business key: a second charge.
    let second = command("run-1", "order-2", 1.0);
    f.claim(&second, LEASE).await;
    let path = f.ticket(&second).await;
    f.store
        .mark_done(
            &second.effect_id(),
            "worker-1",
            &Receipt::ticket(path.clone()),
        )
        .await
        .unwrap();

    let report = f.verify_strict().await;
    let ViolationKind::DuplicateStepEffects {
        run_id, effect_ids, ..
    } = only_violation(&report)
    else {
        panic!("{report}");
    };
    assert_eq!(run_id, &first.run_id);
    assert_eq!(effect_ids, &[first.effect_id(), second.effect_id()]);
}

#[tokio::test]
async fn a_dead_lettered_run_needs_its_archived_record() {
    let f = Fixture::new().await;
    let cmd = f.run("run-1", "order-1", 1.0).await;
    f.set_status(&cmd, RunStatus::DeadLettered).await;
    let report = f.verify_strict().await;
    let expected = ViolationKind::DeadLetterNotArchived {
        run_id: cmd.run_id.clone(),
    };
    assert_eq!(only_violation(&report), &expected);

    let record = DlqRecord::for_command(&cmd, "gave up", now_ms());
    f.store.archive_dead_letter(&record).await.unwrap();
    assert!(f.verify_strict().await.is_clean());
}

#[tokio::test]
async fn a_completed_run_without_a_done_effect_is_reported() {
    let f = Fixture::new().await;
    let cmd = f.run("run-1", "order-1", 1.0).await;
    f.set_status(&cmd, RunStatus::Completed).await;
    let report = f.verify_strict().await;
    assert!(matches!(
        only_violation(&report),
        ViolationKind::CompletedWithoutEffect { .. }
    ));
}

#[tokio::test]
async fn an_unreadable_ticket_is_reported_once() {
    let f = Fixture::new().await;
    let cmd = f.complete("run-1", "order-1", 1.0).await;
    std::fs::write(f.artifacts.ticket_path(&cmd.business_key), b"{ torn").unwrap();
    let report = f.verify_strict().await;
    assert!(matches!(
        only_violation(&report),
        ViolationKind::UnreadableTicket { .. }
    ));
}

#[tokio::test]
async fn stray_temp_files_are_warnings_and_two_runs_of_a_key_share_one_effect() {
    let f = Fixture::new().await;
    f.complete("run-1", "order-1", 1.0).await;
    // A second run for the same business key: the effect is the key's, so the second run
    // completes on the first one's done row (it skipped the effect), with no row of its own.
    let second = f.run("run-2", "order-1", 1.0).await;
    f.set_status(&second, RunStatus::Completed).await;
    std::fs::write(f.artifacts.tickets_dir().join(".tmp-crashed.json"), b"{").unwrap();

    let report = f.verify_strict().await;
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.counts.done_effects, 1, "{report}");
    let kinds: Vec<_> = report.warnings.iter().map(|w| &w.kind).collect();
    assert_eq!(kinds.len(), 1, "{report}");
    assert!(matches!(kinds[0], WarningKind::StrayTempFile { name } if name == ".tmp-crashed.json"));
    assert!(
        report.to_string().contains("warning: stray temp file"),
        "{report}"
    );
}

#[tokio::test]
async fn findings_are_capped_but_counted_across_pages() {
    let f = Fixture::new().await;
    // More rows than one page of the walk (1000), all stale claims of one queued run each.
    let ids: Vec<EffectId> = (0..1100)
        .map(|i| command(&format!("r{i:04}"), &format!("k{i}"), 1.0).effect_id())
        .collect();
    for i in 0..1100 {
        let cmd = command(&format!("r{i:04}"), &format!("k{i}"), 1.0);
        f.claim(&cmd, Duration::ZERO).await;
    }
    let report = f
        .verify_with(VerifyOptions {
            max_findings: 5,
            settle_after: LEASE,
            ..strict()
        })
        .await;
    assert_eq!(
        (report.violations_total, report.violations.len()),
        (1100, 5)
    );
    assert_eq!(report.counts.in_progress_effects, 1100);
    let listed: Vec<_> = report.violations.iter().map(|v| &v.kind).collect();
    assert!(
        matches!(listed[0], ViolationKind::StaleClaim { effect_id, .. } if *effect_id == ids[0])
    );
    assert!(
        report.to_string().contains("and 1095 more violation(s)"),
        "{report}"
    );
}
