//! The runs each scenario submits, and the crash-point matrix: every `fail_mode` of the
//! worker x every worker count, one fresh stack per cell. Each run crashes its worker once, at
//! its crash point, on its first claim; the restarted worker (or another one) must then heal,
//! take over or skip, never repeat.

use sidefx_core::{BusinessKey, FailMode, RunRequest};

use super::args::TortureArgs;
use super::scenario::{Chaos, Scenario};
use crate::stack::effect::EffectMode;

/// The four crash points of docs/ARCHITECTURE.md (`--matrix-crash-points`; the names are the
/// `fail_mode` values, with underscores or dashes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CrashPoint {
    /// After the claim, before the effect: the lease expires and the claim is taken over.
    #[value(
        name = "crash_after_claim_before_effect",
        alias = "crash-after-claim-before-effect"
    )]
    ClaimedNotEffected,
    /// After the effect, before mark-done: the artifact heals the row.
    #[value(
        name = "crash_after_effect_before_mark_done",
        alias = "crash-after-effect-before-mark-done"
    )]
    EffectedNotMarkedDone,
    /// After mark-done, before the ack: the redelivery is skipped.
    #[value(
        name = "crash_after_mark_done_before_ack",
        alias = "crash-after-mark-done-before-ack"
    )]
    MarkedDoneNotAcked,
    /// After the effect (and mark-done), before the ack: the redelivery is skipped.
    #[value(
        name = "crash_after_effect_before_ack",
        alias = "crash-after-effect-before-ack"
    )]
    EffectedNotAcked,
}

/// Every crash point, in the matrix's order.
pub const CRASH_POINTS: [CrashPoint; 4] = [
    CrashPoint::ClaimedNotEffected,
    CrashPoint::EffectedNotMarkedDone,
    CrashPoint::MarkedDoneNotAcked,
    CrashPoint::EffectedNotAcked,
];

impl CrashPoint {
    /// The worker's `fail_mode`.
    pub fn fail_mode(self) -> FailMode {
        match self {
            CrashPoint::ClaimedNotEffected => FailMode::CrashAfterClaimBeforeEffect,
            CrashPoint::EffectedNotMarkedDone => FailMode::CrashAfterEffectBeforeMarkDone,
            CrashPoint::MarkedDoneNotAcked => FailMode::CrashAfterMarkDoneBeforeAck,
            CrashPoint::EffectedNotAcked => FailMode::CrashAfterEffectBeforeAck,
        }
    }
}

/// One scenario per crash point and worker count, for one effect mode.
pub fn scenarios(args: &TortureArgs, effect: EffectMode) -> Vec<Scenario> {
    let points = match args.matrix_crash_points.as_slice() {
        [] => &CRASH_POINTS[..],
        chosen => chosen,
    };
    let mut cells = Vec::new();
    for &workers in &args.matrix_workers {
        for point in points {
            let index = CRASH_POINTS.iter().position(|p| p == point).unwrap_or(0);
            let tag = format!("m{index}w{workers}");
            let fail_mode = point.fail_mode();
            cells.push(Scenario {
                name: format!("matrix {fail_mode}"),
                workers,
                specs: runs(&tag, args.matrix_runs, fail_mode, args.dead_letter_every),
                chaos: Chaos::None,
                effect,
            });
        }
    }
    cells
}

/// Attempts of a run that must complete (see [`runs`]).
pub const ATTEMPTS: u32 = 5;

/// `n` runs with `fail_mode`. Every `dead_letter_every`-th run fails on both of its 2
/// attempts (it must end dead-lettered, with no effect); the one half-way between fails once
/// and then succeeds (a retry must not duplicate). Business keys are unique per run, so
/// exactly one ticket per completed run is expected. A run that must complete gets
/// [`ATTEMPTS`]: with the provider's faults on, 5 % of charge requests fail with a 503 before
/// anything is charged, and three of them in a row (one run in 8000, so one in a storm of
/// 1000 runs now and then) would rightly dead-letter a run of three attempts.
pub fn runs(tag: &str, n: usize, fail_mode: FailMode, dead_letter_every: usize) -> Vec<RunRequest> {
    let salt = rand::random::<u32>() & 0xff_ffff;
    (0..n)
        .map(|i| {
            let (fail_before_effect_n, max_attempts) = match dead_letter_every {
                0 => (0, ATTEMPTS),
                every if i % every == every - 1 => (2, 2),
                every if every >= 2 && i % every == every / 2 - 1 => (1, ATTEMPTS),
                _ => (0, ATTEMPTS),
            };
            // Tags are letters and digits (`storm`, `m0w2`): the key is always valid.
            let key = BusinessKey::parse(&format!("t-{tag}-{salt:06x}-{i}"))
                .expect("a torture tag makes a valid business key");
            RunRequest {
                business_key: key,
                amount: 10.0 + (i % 90) as f64,
                fail_before_effect_n,
                fail_mode,
                max_attempts,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{End, expected_end};

    #[test]
    fn every_tenth_run_dead_letters_and_one_retries() {
        let specs = runs("x", 20, FailMode::None, 10);
        let dead: Vec<_> = specs
            .iter()
            .enumerate()
            .filter(|(_, s)| expected_end(s) == End::DeadLettered)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(dead, [9, 19]);
        assert_eq!(specs[4].fail_before_effect_n, 1);
        assert_eq!(expected_end(&specs[4]), End::Completed);
        let keys: std::collections::HashSet<_> = specs.iter().map(|s| &s.business_key).collect();
        assert_eq!(keys.len(), 20);
        assert!(
            runs("x", 5, FailMode::None, 0)
                .iter()
                .all(|s| s.fail_before_effect_n == 0)
        );
    }
}
