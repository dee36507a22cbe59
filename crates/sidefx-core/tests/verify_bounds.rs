//! Verify's run checks on a store that is not healthy: the grace period of an unfinished
//! run counts from its acceptance (a redrive does not restart it), and many offenders cost
//! one bounded page of rows, all of them still counted.

#[path = "verify/fixture.rs"]
#[allow(
    dead_code,
    reason = "the fixture is shared with verify.rs, which uses all of it"
)]
mod fixture;

use std::time::{Duration, Instant};

use fixture::{Fixture, strict};
use sidefx_core::verify::ViolationKind;
use sidefx_core::{RunStatus, VerifyOptions, now_ms};

#[tokio::test]
async fn a_run_redriven_recently_is_still_judged_by_its_acceptance() {
    let f = Fixture::new().await;
    let cmd = f.run("run-1", "order-1", 1.0).await;
    let grace = Duration::from_millis(300);
    // Wait (polling, with a deadline) until the run is older than the grace period.
    let deadline = Instant::now() + Duration::from_secs(10);
    let run = loop {
        let run = f.store.get_run(&cmd.run_id).await.unwrap().unwrap();
        if now_ms() - run.created_ms > 400 {
            break run;
        }
        assert!(Instant::now() < deadline, "the clock does not move");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The sweeper redrives it and the redelivered command starts: the row changed just now.
    assert!(f.store.claim_redrive(&run).await.unwrap().is_some());
    f.set_status(&cmd, RunStatus::Running).await;
    let opts = VerifyOptions {
        settle_after: grace,
        ..VerifyOptions::default()
    };
    let report = f.verify_with(opts).await;
    let ViolationKind::RunNotFinished {
        run_id,
        age_ms,
        idle_ms,
        ..
    } = fixture::only_violation(&report)
    else {
        panic!("{report}");
    };
    assert_eq!(run_id, &cmd.run_id);
    assert!(
        *age_ms > 400 && *idle_ms < 300,
        "age {age_ms}, idle {idle_ms}"
    );
}

#[tokio::test]
async fn many_stuck_runs_are_all_counted_but_only_a_page_is_listed() {
    let f = Fixture::new().await;
    for n in 0..30 {
        f.run(&format!("run-{n}"), &format!("order-{n}"), 1.0).await;
    }
    let opts = VerifyOptions {
        max_findings: 5,
        ..strict()
    };
    let report = f.verify_with(opts).await;
    assert_eq!(report.violations_total, 30, "{report}");
    assert_eq!(report.violations.len(), 5);
    assert_eq!(report.counts.runs_in_flight, 0);
}
