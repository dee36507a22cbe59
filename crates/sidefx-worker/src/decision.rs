//! The exactly-once step's decision, as a pure function: given what the claim found, the
//! effect's own receipt (looked up only when someone else's claim is in progress) and the
//! time, what does this worker do? [`decide`] touches no store, clock or network, so every
//! row of the state table in docs/ARCHITECTURE.md is a unit test below; `step.rs` gathers the facts, calls it
//! and carries the [`Decision`] out.

use std::time::Duration;

use sidefx_core::{Claim, Receipt, RunId};
use tracing::{info, warn};

/// The time, as the decision sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// The wall clock (ms since the epoch): the clock the claimer wrote its lease expiry in.
    pub wall_ms: i64,
    /// How long this process has watched the in-progress claim unchanged (same owner, lease
    /// and attempts) on its own monotonic clock (see `claim_watch.rs`); zero on first sight.
    pub watched: Duration,
}

/// What the decision is held to: who we are and the run's limits.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// This process's owner name (its claims carry it).
    pub owner: &'a str,
    /// How long a claim protects its effect without a heartbeat.
    pub claim_lease: Duration,
    /// The run's `max_attempts`: how many claims an effect gets before a person decides.
    pub max_attempts: u32,
    /// How long the provider remembers an idempotency key, if it forgets them.
    pub key_retention: Option<Duration>,
}

/// What this worker does with the effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Our claim was inserted: the first time anyone touches this effect. Perform it.
    Perform,
    /// The effect is done, by `done_by` (this run or an earlier run of the business key).
    Skip {
        /// The run whose step performed the effect.
        done_by: RunId,
    },
    /// A claim is in progress but the effect's own receipt proves it happened (its owner died
    /// before mark-done): record the receipt, do not repeat the effect.
    Heal {
        /// The receipt the lookup found.
        receipt: Receipt,
        /// Who held the claim.
        previous_owner: Option<String>,
    },
    /// Someone else holds a live claim: leave the command for redelivery.
    LeaveLive {
        /// The claim's owner.
        owner: String,
        /// The run that holds it.
        run: RunId,
        /// Its lease expiry, in the claimer's wall clock.
        lease_expires_ms: Option<i64>,
    },
    /// The claim expired (its owner crashed or stalled), or it is our own from an attempt of
    /// this process that failed after claiming: take it over (fenced on `previous`) and
    /// perform the effect as its `claim`-th claim.
    TakeOver {
        /// The owner the fenced takeover expects to replace.
        previous: String,
        /// 2 for the first takeover, and so on (the row's `attempts` after it).
        claim: u32,
    },
    /// As [`Decision::TakeOver`], but the effect must not be performed again automatically:
    /// take the claim (so only one contender decides), give it back and dead-letter the run.
    GiveUp {
        /// The owner the fenced takeover expects to replace.
        previous: String,
        /// Why a person decides now.
        reason: GiveUp,
    },
}

/// Why an effect is dead-lettered instead of taken over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// Claimed `claims` times without an outcome (a worker that dies mid-effect every time,
    /// or a call that never answers).
    Unfinished {
        /// Claims so far.
        claims: u32,
    },
    /// First claimed longer ago than the provider keeps idempotency keys: repeating the call
    /// could charge twice.
    WindowPassed {
        /// Since the first claim.
        age: Duration,
        /// The provider's key retention.
        retention: Duration,
    },
}

/// Decides what to do with the effect. `receipt` is the effect's lookup, asked only when the
/// claim is in progress (for the other answers it is ignored).
pub fn decide(claim: &Claim, receipt: Option<&Receipt>, now: Now, rules: &Rules<'_>) -> Decision {
    let row = match claim {
        Claim::Acquired => return Decision::Perform,
        Claim::AlreadyDone(row) => {
            return Decision::Skip {
                done_by: row.run_id.clone(),
            };
        }
        Claim::InProgress(row) => row,
    };
    // The receipt is proof whoever owns the claim, live or not.
    if let Some(receipt) = receipt {
        return Decision::Heal {
            receipt: receipt.clone(),
            previous_owner: row.owner.clone(),
        };
    }
    let previous = row.owner.clone().unwrap_or_default();
    // Expired only when both clocks agree: the claimer's (the row's expiry, in its wall time)
    // and ours (watched unchanged for a full lease), so a clock running ahead cannot take over
    // a live claim, and every heartbeat restarts our watch.
    let expired = row.lease_expired(now.wall_ms) && now.watched >= rules.claim_lease;
    if !expired && previous != rules.owner {
        return Decision::LeaveLive {
            owner: previous,
            run: row.run_id.clone(),
            lease_expires_ms: row.lease_expires_ms,
        };
    }
    // Every claim counts in the row (`attempts`), so a command whose worker dies mid-effect
    // every time ends in the DLQ instead of looping.
    if row.attempts >= rules.max_attempts {
        let claims = row.attempts;
        let reason = GiveUp::Unfinished { claims };
        return Decision::GiveUp { previous, reason };
    }
    // The first claim may have reached the provider (the lookup did not find it): repeating
    // the call is safe only while the provider still remembers the key.
    if let Some(retention) = rules.key_retention {
        let age_ms = now.wall_ms.saturating_sub(row.created_ms).max(0);
        let age = Duration::from_millis(u64::try_from(age_ms).unwrap_or(0));
        if age >= retention {
            let reason = GiveUp::WindowPassed { age, retention };
            return Decision::GiveUp { previous, reason };
        }
    }
    let claim = row.attempts.saturating_add(1);
    Decision::TakeOver { previous, claim }
}

impl Decision {
    /// The decision's name, as its log line's `decision` field.
    pub fn name(&self) -> &'static str {
        match self {
            Decision::Perform => "acquired",
            Decision::Skip { .. } => "already_done",
            Decision::Heal { .. } => "healed",
            Decision::LeaveLive { .. } => "live_claim",
            Decision::TakeOver { .. } => "taken_over",
            Decision::GiveUp {
                reason: GiveUp::Unfinished { .. },
                ..
            } => "unfinished",
            Decision::GiveUp {
                reason: GiveUp::WindowPassed { .. },
                ..
            } => "window_passed",
        }
    }

    /// The decision's one log line.
    pub fn log(&self) {
        let decision = self.name();
        match self {
            Decision::Perform => {
                info!(decision, "claim decided: new claim, executing the effect");
            }
            Decision::Skip { done_by } => {
                info!(decision, by_run = %done_by, "claim decided: effect already done; skipping it");
            }
            Decision::Heal {
                receipt,
                previous_owner,
            } => info!(
                decision,
                previous_owner = ?previous_owner,
                receipt = ?receipt,
                "claim decided: this effect's receipt found; marking it done without repeating it",
            ),
            Decision::LeaveLive {
                owner,
                lease_expires_ms,
                ..
            } => info!(
                decision,
                owner = %owner,
                lease_expires_ms = ?lease_expires_ms,
                "claim decided: another owner holds a live claim; leaving for redelivery",
            ),
            Decision::TakeOver { previous, claim } => info!(
                decision,
                previous_owner = %previous,
                claim,
                "claim decided: expired claim, taking it over to execute the effect",
            ),
            Decision::GiveUp { previous, reason } => warn!(
                decision,
                previous_owner = %previous,
                "claim decided: {}",
                reason.dead_letter_error()
            ),
        }
    }
}

impl GiveUp {
    /// The DLQ record's `error`: the reason first, then what happened.
    pub fn dead_letter_error(&self) -> String {
        match self {
            GiveUp::Unfinished { claims } => format!(
                "effect_unfinished: claimed {} times without an outcome",
                claims.saturating_add(1)
            ),
            GiveUp::WindowPassed { age, retention } => format!(
                "idempotency_window_passed: first claimed {} s ago, the provider keeps keys \
                 for {} s; not repeated automatically",
                age.as_secs(),
                retention.as_secs()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use sidefx_core::{BusinessKey, EffectId, EffectRow, EffectStatus, StepId};

    use super::*;

    const LEASE: Duration = Duration::from_secs(5);
    const T: i64 = 1_000_000;

    fn rules() -> Rules<'static> {
        Rules {
            owner: "me",
            claim_lease: LEASE,
            max_attempts: 3,
            key_retention: None,
        }
    }

    /// A claim by `owner`, its lease expiring at `expires_ms`, claimed `attempts` times, first
    /// at `created_ms`.
    fn row(owner: &str, expires_ms: i64, attempts: u32, created_ms: i64) -> EffectRow {
        let (run, step, key) = (
            RunId::parse("run-a").unwrap(),
            StepId::charge_card(),
            BusinessKey::parse("order-42").unwrap(),
        );
        EffectRow {
            effect_id: EffectId::new(&run, &step, &key),
            run_id: run,
            step_id: step,
            business_key: key,
            status: EffectStatus::InProgress,
            artifact_path: None,
            created_ms,
            updated_ms: created_ms,
            payload_json: "{}".into(),
            owner: Some(owner.into()),
            lease_expires_ms: Some(expires_ms),
            attempts,
            receipt: None,
        }
    }

    fn in_progress(owner: &str, expires_ms: i64, attempts: u32) -> Claim {
        Claim::InProgress(row(owner, expires_ms, attempts, T - 10_000))
    }

    fn at(wall_ms: i64, watched: Duration) -> Now {
        Now { wall_ms, watched }
    }

    fn charge() -> Receipt {
        Receipt::Charge {
            charge_id: "ch_1".into(),
            ticket_path: "tickets/ticket_order-42.json".into(),
        }
    }

    #[test]
    fn a_new_claim_performs_the_effect() {
        let now = at(T, Duration::ZERO);
        assert_eq!(
            decide(&Claim::Acquired, None, now, &rules()),
            Decision::Perform
        );
    }

    #[test]
    fn a_done_effect_is_skipped_naming_the_run_that_did_it() {
        let mut done = row("w1", T, 1, T);
        done.status = EffectStatus::Done;
        done.run_id = RunId::parse("run-earlier").unwrap();
        let decision = decide(
            &Claim::AlreadyDone(done),
            None,
            at(T, Duration::ZERO),
            &rules(),
        );
        let done_by = RunId::parse("run-earlier").unwrap();
        assert_eq!(decision, Decision::Skip { done_by });
    }

    #[test]
    fn a_receipt_heals_even_a_live_claim_of_another_owner() {
        let claim = in_progress("w1", T + 60_000, 1);
        let decision = decide(&claim, Some(&charge()), at(T, Duration::ZERO), &rules());
        let expected = Decision::Heal {
            receipt: charge(),
            previous_owner: Some("w1".into()),
        };
        assert_eq!(decision, expected);
    }

    #[test]
    fn a_live_claim_of_another_owner_is_left_alone() {
        let claim = in_progress("w1", T + 1_000, 1);
        let decision = decide(&claim, None, at(T, LEASE * 10), &rules());
        assert_eq!(decision.name(), "live_claim");
    }

    #[test]
    fn an_expired_claim_watched_for_a_lease_is_taken_over_as_the_next_claim() {
        let claim = in_progress("w1", T - 1, 1);
        let decision = decide(&claim, None, at(T, LEASE), &rules());
        let previous = "w1".to_owned();
        assert_eq!(decision, Decision::TakeOver { previous, claim: 2 });
    }

    #[test]
    fn a_clock_running_ahead_cannot_take_over_a_claim_it_has_not_watched_for_a_lease() {
        // The claimer's lease ends in 49 s; our clock runs 90 s ahead, so the wall clock says
        // expired. Our own watch (unchanged for 4.9 s of a 5 s lease) says live.
        let claim = in_progress("w1", T + 49_000, 1);
        let ahead = at(T + 90_000, LEASE - Duration::from_millis(100));
        assert_eq!(decide(&claim, None, ahead, &rules()).name(), "live_claim");
        // Watched long enough but the wall clock (the claimer's domain) says live: live too.
        let behind = at(T, LEASE * 3);
        assert_eq!(decide(&claim, None, behind, &rules()).name(), "live_claim");
    }

    #[test]
    fn our_own_claim_is_taken_over_at_once() {
        // An attempt of this process claimed, then failed before marking done.
        let claim = in_progress("me", T + 60_000, 1);
        let decision = decide(&claim, None, at(T, Duration::ZERO), &rules());
        let previous = "me".to_owned();
        assert_eq!(decision, Decision::TakeOver { previous, claim: 2 });
    }

    #[test]
    fn an_effect_claimed_max_attempts_times_is_given_up() {
        let claim = in_progress("w1", T - 1, 3);
        let decision = decide(&claim, None, at(T, LEASE), &rules());
        let reason = GiveUp::Unfinished { claims: 3 };
        let previous = "w1".to_owned();
        assert_eq!(decision, Decision::GiveUp { previous, reason });
        assert!(
            reason
                .dead_letter_error()
                .starts_with("effect_unfinished: claimed 4 times")
        );
    }

    #[test]
    fn a_claim_older_than_the_providers_key_retention_is_given_up() {
        let rules = Rules {
            key_retention: Some(Duration::from_secs(5)),
            ..rules()
        };
        // First claimed 10 s ago (see `in_progress`), the provider keeps keys for 5 s.
        let decision = decide(&in_progress("w1", T - 1, 1), None, at(T, LEASE), &rules);
        assert_eq!(decision.name(), "window_passed");
        let Decision::GiveUp { reason, .. } = decision else {
            unreachable!()
        };
        assert!(
            reason
                .dead_letter_error()
                .starts_with("idempotency_window_passed: first claimed 10 s ago")
        );
        // Within the window: taken over, the same key repeated safely.
        let young = Claim::InProgress(row("w1", T - 1, 1, T - 1_000));
        assert_eq!(
            decide(&young, None, at(T, LEASE), &rules).name(),
            "taken_over"
        );
    }

    #[test]
    fn attempts_are_judged_before_the_window() {
        let rules = Rules {
            key_retention: Some(Duration::from_secs(5)),
            ..rules()
        };
        let decision = decide(&in_progress("w1", T - 1, 3), None, at(T, LEASE), &rules);
        assert_eq!(decision.name(), "unfinished");
    }
}
