//! Chaos switches: the command's `fail_mode` can kill the worker at one of the crash points
//! of the exactly-once step, to prove that a restarted worker finishes the run without
//! repeating the effect. The kill is `exit(137)`, what a supervisor sees after `kill -9`.

use std::io::Write;

use sidefx_core::messages::FailMode;

/// The places in the step where a crash must be safe (docs/ARCHITECTURE.md, "Crash points").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// The claim row exists (`in_progress`), the effect has not happened. A restarted worker
    /// finds a claim without artifact and takes it over once the lease expires.
    AfterClaimBeforeEffect,
    /// The effect happened, the row is still `in_progress`. A restarted worker heals it.
    AfterEffectBeforeMarkDone,
    /// The row is `done`, the command is not acked. A restarted worker skips the effect.
    AfterMarkDoneBeforeAck,
    /// The original starter's crash: after `side_effect.done` was emitted, before the ack.
    AfterEffectBeforeAck,
}

impl CrashPoint {
    /// The `fail_mode` that triggers a crash at this point.
    pub fn fail_mode(self) -> FailMode {
        match self {
            CrashPoint::AfterClaimBeforeEffect => FailMode::CrashAfterClaimBeforeEffect,
            CrashPoint::AfterEffectBeforeMarkDone => FailMode::CrashAfterEffectBeforeMarkDone,
            CrashPoint::AfterMarkDoneBeforeAck => FailMode::CrashAfterMarkDoneBeforeAck,
            CrashPoint::AfterEffectBeforeAck => FailMode::CrashAfterEffectBeforeAck,
        }
    }

    /// Where the crash happens, in words (for the `chaos.crash_now` event's note). The
    /// original's own point keeps the original's text.
    pub fn describe(self) -> &'static str {
        match self {
            CrashPoint::AfterClaimBeforeEffect => "after the claim, before the side effect",
            CrashPoint::AfterEffectBeforeMarkDone => "after the side effect, before mark-done",
            CrashPoint::AfterMarkDoneBeforeAck => "after mark-done, before ack",
            CrashPoint::AfterEffectBeforeAck => "after side effect, before ack",
        }
    }

    /// Whether a step with `mode` must crash here. The step only asks on the path where it
    /// freshly claimed the effect, so each effect crashes at most once and the restarted
    /// worker (which finds the claim, the artifact or the done row) finishes the run.
    pub fn armed(self, mode: &FailMode) -> bool {
        *mode == self.fail_mode()
    }
}

/// Ends the process at once with exit code 137, without running destructors, acking or
/// finishing anything: exactly like being killed mid-step.
pub fn crash_now(point: CrashPoint) -> ! {
    tracing::error!(crash_point = ?point, "chaos: crashing the worker on purpose (exit 137)");
    // Logs go to stderr; make sure the line above is out before the process vanishes.
    let _ = std::io::stderr().flush();
    std::process::exit(137)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_point_is_armed_only_by_its_own_mode() {
        let points = [
            CrashPoint::AfterClaimBeforeEffect,
            CrashPoint::AfterEffectBeforeMarkDone,
            CrashPoint::AfterMarkDoneBeforeAck,
            CrashPoint::AfterEffectBeforeAck,
        ];
        for p in points {
            assert!(p.armed(&p.fail_mode()));
            assert!(!p.armed(&FailMode::None));
            for other in points.iter().filter(|o| **o != p) {
                assert!(!p.armed(&other.fail_mode()), "{p:?} armed by {other:?}");
            }
        }
    }
}
