//! The fixture of `verify.rs`: a temp store and artifacts dir, and the steps a healthy
//! worker takes, so each test can take them, skip one, or break one.

use std::time::Duration;

use sidefx_core::verify::ViolationKind;
use sidefx_core::{
    Artifacts, BusinessKey, CreateRun, FailMode, MarkDone, NewClaim, NewRun, Receipt, RunCommand,
    RunId, RunStatus, StepId, Store, Ticket, VerifyOptions, VerifyReport, now_ms, verify,
};
use tempfile::TempDir;

/// A lease long enough that no test sees it expire.
pub const LEASE: Duration = Duration::from_secs(30);

/// A temp store and artifacts dir; dropped with the test.
pub struct Fixture {
    _dir: TempDir,
    pub store: Store,
    pub artifacts: Artifacts,
}

impl Fixture {
    /// A fresh, empty store and artifacts dir.
    pub async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
        let artifacts = Artifacts::new(dir.path().join("artifacts"));
        Fixture {
            _dir: dir,
            store,
            artifacts,
        }
    }

    /// Registers run `run` for `key` (status `queued`) and returns its command.
    pub async fn run(&self, run: &str, key: &str, amount: f64) -> RunCommand {
        let cmd = command(run, key, amount);
        let new_run = NewRun {
            run_id: cmd.run_id.clone(),
            business_key: cmd.business_key.clone(),
            request_json: "{}".to_owned(),
            idempotency_key: None,
            request_fingerprint: run.to_owned(),
        };
        let created = self.store.create_run(new_run).await.unwrap();
        assert!(matches!(created, CreateRun::Created(_)));
        cmd
    }

    /// Claims `cmd`'s effect for `worker-1` with the given lease.
    pub async fn claim(&self, cmd: &RunCommand, lease: Duration) {
        let claim = NewClaim::for_command(cmd, "worker-1", lease).unwrap();
        self.store.claim(claim).await.unwrap();
    }

    /// Writes `cmd`'s ticket; returns its path.
    pub async fn ticket(&self, cmd: &RunCommand) -> String {
        let ticket = Ticket::for_command(cmd, now_ms());
        let written = self.artifacts.write_ticket(&ticket).await.unwrap();
        written.path().display().to_string()
    }

    /// What a healthy worker does: claim, write the ticket, mark done, complete the run.
    pub async fn complete(&self, run: &str, key: &str, amount: f64) -> RunCommand {
        let cmd = self.run(run, key, amount).await;
        self.claim(&cmd, LEASE).await;
        let path = self.ticket(&cmd).await;
        let done = self
            .store
            .mark_done(&cmd.effect_id(), "worker-1", &Receipt::ticket(path.clone()))
            .await;
        assert_eq!(done.unwrap(), MarkDone::Done);
        self.set_status(&cmd, RunStatus::Completed).await;
        cmd
    }

    /// Records run progress as the worker would.
    pub async fn set_status(&self, cmd: &RunCommand, status: RunStatus) {
        self.store.update_run(&cmd.run_id, status, 1).await.unwrap();
    }

    /// Verifies with `opts`; the verification itself must not fail.
    pub async fn verify_with(&self, opts: VerifyOptions) -> VerifyReport {
        verify(&self.store, &self.artifacts, opts).await.unwrap()
    }

    /// Verification with no grace periods: every transient state counts.
    pub async fn verify_strict(&self) -> VerifyReport {
        self.verify_with(strict()).await
    }
}

/// No grace periods: every transient state counts.
pub fn strict() -> VerifyOptions {
    VerifyOptions {
        stale_after: Duration::ZERO,
        settle_after: Duration::ZERO,
        ..VerifyOptions::default()
    }
}

/// The `charge_card` command of run `run` for `key`.
pub fn command(run: &str, key: &str, amount: f64) -> RunCommand {
    let run_id = RunId::parse(run).unwrap();
    RunCommand {
        ts: now_ms(),
        events_topic: sidefx_core::events_topic(&run_id),
        run_id,
        step_id: StepId::charge_card(),
        business_key: BusinessKey::parse(key).unwrap(),
        amount,
        attempt: 0,
        max_attempts: 3,
        fail_before_effect_n: 0,
        fail_mode: FailMode::None,
        redrive: None,
    }
}

/// The single violation of `report`, which must not be clean.
pub fn only_violation(report: &VerifyReport) -> &ViolationKind {
    assert!(!report.is_clean(), "expected a violation: {report}");
    assert_eq!(report.violations.len(), 1, "{report}");
    assert!(!report.violations[0].message.is_empty());
    &report.violations[0].kind
}
