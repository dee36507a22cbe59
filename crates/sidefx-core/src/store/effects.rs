//! Side-effect claims: where "exactly once" is decided.
//!
//! A row per effect id moves `in_progress → done`. The row's existence is the claim, its
//! `owner` says who holds it and `lease_expires_ms` until when. Every write after the claim is
//! fenced on the owner, so a worker that lost its claim cannot overwrite the new owner's work.

use std::time::Duration;

use rusqlite::{Connection, params};

use super::effect_rows::{self, EffectRow, EffectStatus};
use super::{Store, StoreError, millis};
use crate::ids::{BusinessKey, EffectId, RunId, StepId};
use crate::messages::{RunCommand, now_ms};
use crate::receipt::Receipt;

/// A request to claim an effect (insert its row as `in_progress`, owned by `owner`).
#[derive(Debug, Clone)]
pub struct NewClaim {
    /// The effect; must equal `EffectId::new(run_id, step_id, business_key)`.
    pub effect_id: EffectId,
    /// The run.
    pub run_id: RunId,
    /// The step.
    pub step_id: StepId,
    /// The caller's key.
    pub business_key: BusinessKey,
    /// The command that asked for the effect, for debugging (`/debug/side-effects`).
    pub payload_json: String,
    /// Who claims it (the worker's DriftQ owner id).
    pub owner: String,
    /// How long the claim protects the effect before another worker may take it over.
    pub lease: Duration,
}

impl NewClaim {
    /// The claim for a command, with the command itself as payload.
    pub fn for_command(
        cmd: &RunCommand,
        owner: impl Into<String>,
        lease: Duration,
    ) -> serde_json::Result<Self> {
        Ok(Self {
            effect_id: cmd.effect_id(),
            run_id: cmd.run_id.clone(),
            step_id: cmd.step_id.clone(),
            business_key: cmd.business_key.clone(),
            payload_json: serde_json::to_string(&crate::messages::Command::Run(cmd.clone()))?,
            owner: owner.into(),
            lease,
        })
    }
}

/// The outcome of [`Store::claim`].
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The row was inserted: the caller owns the effect and must perform it.
    Acquired,
    /// The effect is recorded as done: skip it.
    AlreadyDone(EffectRow),
    /// Someone holds (or held) a claim; look at its owner and lease to decide.
    InProgress(EffectRow),
}

/// The outcome of [`Store::mark_done`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkDone {
    /// Our claim is now `done`.
    Done,
    /// It was already `done` (by us earlier, or by a worker that took over).
    AlreadyDone,
    /// Another owner holds the claim now (or the row is gone): our write was refused.
    LostClaim,
}

/// The claim. The primary key on `effect_id` is the arbiter: however many workers (threads or
/// processes) race, exactly one INSERT creates the row and sees 1 change; every other one
/// hits the conflict and sees 0. Deciding in Rust after a SELECT ("no row yet, so insert")
/// would let two racers both see "no row". `DO NOTHING` instead of catching the constraint
/// error keeps the loser's transaction usable for the follow-up SELECT.
pub(super) const INSERT_CLAIM: &str = "
INSERT INTO side_effects (effect_id, run_id, step_id, business_key, status, artifact_path,
                          created_ms, updated_ms, payload_json, owner, lease_expires_ms, attempts,
                          effect_key)
VALUES (?1, ?2, ?3, ?4, 'in_progress', NULL, ?5, ?5, ?6, ?7, ?8, 1, ?9)
ON CONFLICT DO NOTHING";

/// Takeover of a crashed worker's claim, as one conditional UPDATE (compare-and-swap):
/// * `status = 'in_progress'`: a done effect is never reopened.
/// * `COALESCE(owner, '') = ?expected`: only if the claim is still the one the caller looked
///   at; if two workers race to take over, the first changes `owner` and the second matches
///   nothing. Rows from the original starter have no owner: pass `""` to take those over.
/// * lease expired (or the caller already is the owner, e.g. its own redelivery): a live
///   lease means its owner may still be performing the effect right now.
///
/// The row then names the taker's run (`effect_id`, `run_id`): when another run of the same
/// business key takes over, the claim, its ticket and verify agree on who performed it.
pub(super) const TAKE_OVER: &str = "
UPDATE side_effects
   SET owner = ?3, lease_expires_ms = ?4, attempts = attempts + 1, updated_ms = ?5,
       effect_id = ?6, run_id = ?7
 WHERE effect_key = ?1
   AND status = 'in_progress'
   AND COALESCE(owner, '') = ?2
   AND (?2 = ?3 OR lease_expires_ms IS NULL OR lease_expires_ms <= ?5)";

/// Completion, fenced on the owner. The lease time is deliberately not checked: a claim whose
/// lease ran out but that nobody took over is still ours, and the effect did happen. What
/// fences a slow worker out is a takeover, which changes `owner`.
pub(super) const MARK_DONE: &str = "
UPDATE side_effects
   SET status = 'done', artifact_path = ?2, updated_ms = ?3, lease_expires_ms = NULL,
       receipt_json = ?5
 WHERE effect_key = ?1 AND status = 'in_progress' AND owner = ?4";

/// Healing: the effect's own receipt was found (its ticket, its charge), so it happened,
/// whoever performed it; no owner fence.
pub(super) const HEAL: &str = "
UPDATE side_effects
   SET status = 'done', artifact_path = ?2, updated_ms = ?3, lease_expires_ms = NULL,
       receipt_json = ?4
 WHERE effect_key = ?1 AND status = 'in_progress'";

/// The heartbeat: our claim lives on for another lease, fenced on the owner. A claim that
/// was taken over (or is done) is not touched, and the caller learns that it lost it.
pub(super) const RENEW: &str = "
UPDATE side_effects SET lease_expires_ms = ?3, updated_ms = ?4
 WHERE effect_key = ?1 AND status = 'in_progress' AND owner = ?2";

/// Giving a claim back after the effect certainly did not happen (or, after an unknown
/// outcome, was looked up and not found): the row goes, fenced on the owner, so the next
/// attempt claims it afresh. A done row is never deleted.
pub(super) const RELEASE: &str = "
DELETE FROM side_effects WHERE effect_key = ?1 AND status = 'in_progress' AND owner = ?2";

impl Store {
    /// Claims an effect: inserts its row as `in_progress` owned by `c.owner`, or reports the
    /// existing row. Exactly one concurrent caller per effect id gets [`Claim::Acquired`].
    pub async fn claim(&self, c: NewClaim) -> Result<Claim, StoreError> {
        self.write(move |conn| claim_blocking(conn, &c, now_ms()))
            .await
    }

    /// Takes over the `in_progress` claim on `effect_id`'s effect (its identity: whichever
    /// run of the business key claimed it) held by `expected_owner` whose lease has expired
    /// (or renews it when `expected_owner == new_owner`). Returns false if the claim changed in
    /// the meantime, is done, or its lease is still live.
    pub async fn take_over(
        &self,
        effect_id: &EffectId,
        expected_owner: &str,
        new_owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let args = (
            effect_id.clone(),
            expected_owner.to_owned(),
            new_owner.to_owned(),
        );
        self.write(move |conn| {
            let (id, expected, new) = args;
            let now = now_ms();
            let until = now.saturating_add(millis(lease));
            let changed = conn.prepare_cached(TAKE_OVER)?.execute(params![
                id.identity(),
                expected,
                new,
                until,
                now,
                id,
                id.run_id()
            ])?;
            Ok(changed == 1)
        })
        .await
    }

    /// Marks our claim done with the effect's receipt. Refused ([`MarkDone::LostClaim`]) if
    /// another owner holds it.
    pub async fn mark_done(
        &self,
        effect_id: &EffectId,
        owner: &str,
        receipt: &Receipt,
    ) -> Result<MarkDone, StoreError> {
        let args = (
            effect_id.identity(),
            owner.to_owned(),
            receipt.artifact_path().map(str::to_owned),
            serde_json::to_string(receipt).map_err(StoreError::Encode)?,
        );
        // The writer's transaction makes the UPDATE and the lookup that explains a refusal
        // one consistent view.
        self.write(move |conn| {
            let (id, owner, path, receipt) = args;
            let changed = conn.prepare_cached(MARK_DONE)?.execute(params![
                id,
                path,
                now_ms(),
                owner,
                receipt
            ])?;
            if changed == 1 {
                return Ok(MarkDone::Done);
            }
            Ok(match effect_rows::by_identity(conn, &id)? {
                Some(row) if row.status == EffectStatus::Done => MarkDone::AlreadyDone,
                _ => MarkDone::LostClaim,
            })
        })
        .await
    }

    /// Finishes an `in_progress` claim whose own receipt proves the effect happened. Returns
    /// false if the row is not `in_progress` (already done, or absent).
    pub async fn heal(&self, effect_id: &EffectId, receipt: &Receipt) -> Result<bool, StoreError> {
        let args = (
            effect_id.identity(),
            receipt.artifact_path().map(str::to_owned),
            serde_json::to_string(receipt).map_err(StoreError::Encode)?,
        );
        self.write(move |conn| {
            let (id, path, receipt) = args;
            Ok(conn
                .prepare_cached(HEAL)?
                .execute(params![id, path, now_ms(), receipt])?
                == 1)
        })
        .await
    }

    /// Renews our `in_progress` claim for `lease` from now (the heartbeat while the effect
    /// runs). False when the claim is no longer ours: stop, and do not mark it done.
    pub async fn renew_claim(
        &self,
        effect_id: &EffectId,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let args = (effect_id.identity(), owner.to_owned());
        self.write(move |conn| {
            let (id, owner) = args;
            let now = now_ms();
            let until = now.saturating_add(millis(lease));
            Ok(conn
                .prepare_cached(RENEW)?
                .execute(params![id, owner, until, now])?
                == 1)
        })
        .await
    }

    /// Releases our `in_progress` claim (deletes its row) after the effect failed without
    /// happening, so a retry or a later run can claim it. Returns false if the claim is not
    /// ours any more (taken over) or already done: then the row stays as it is.
    pub async fn release_claim(
        &self,
        effect_id: &EffectId,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let args = (effect_id.identity(), owner.to_owned());
        self.write(move |conn| {
            let (id, owner) = args;
            Ok(conn.prepare_cached(RELEASE)?.execute(params![id, owner])? == 1)
        })
        .await
    }

    /// One effect's row, if it was ever claimed.
    pub async fn get_effect(&self, effect_id: &EffectId) -> Result<Option<EffectRow>, StoreError> {
        let identity = effect_id.identity();
        self.call(move |conn| effect_rows::by_identity(conn, &identity))
            .await
    }

    /// The most recently changed effects, newest first.
    pub async fn list_effects(&self, limit: u32) -> Result<Vec<EffectRow>, StoreError> {
        self.call(move |conn| effect_rows::recent(conn, limit))
            .await
    }

    /// Every effect of one business key, oldest first.
    pub async fn effects_of_key(&self, key: &BusinessKey) -> Result<Vec<EffectRow>, StoreError> {
        let key = key.clone();
        self.call(move |conn| effect_rows::of_key(conn, &key)).await
    }

    /// Every effect of one run, oldest first.
    pub async fn effects_for_run(&self, run_id: &RunId) -> Result<Vec<EffectRow>, StoreError> {
        let run_id = run_id.clone();
        self.call(move |conn| effect_rows::of_run(conn, &run_id))
            .await
    }
}

/// The claim. It runs inside the writer's `BEGIN IMMEDIATE` transaction, which makes the
/// INSERT and the follow-up SELECT one consistent view, so the reported row is the one that
/// beat us.
fn claim_blocking(conn: &Connection, c: &NewClaim, now: i64) -> Result<Claim, StoreError> {
    let until = now.saturating_add(millis(c.lease));
    let inserted = conn.prepare_cached(INSERT_CLAIM)?.execute(params![
        c.effect_id,
        c.run_id,
        c.step_id,
        c.business_key,
        now,
        c.payload_json,
        c.owner,
        until,
        c.effect_id.identity()
    ])?;
    let claim = if inserted == 1 {
        Claim::Acquired
    } else {
        // The conflict proves the row exists, and the transaction keeps it from vanishing.
        let row = effect_rows::by_identity(conn, &c.effect_id.identity())?
            .ok_or(rusqlite::Error::QueryReturnedNoRows)?;
        match row.status {
            EffectStatus::Done => Claim::AlreadyDone(row),
            EffectStatus::InProgress => Claim::InProgress(row),
        }
    };
    Ok(claim)
}
