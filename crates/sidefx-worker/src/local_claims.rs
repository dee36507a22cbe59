//! Effects this process is handling right now. The store's claim has one owner name per
//! process, and a worker may take over its *own* claim (that is how it recovers after a
//! failed attempt). Without this set, two tasks of one process could both hold the claim
//! for one effect, e.g. when a command and its redelivery are handled at the same time.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use sidefx_core::ids::EffectId;

/// A cheap clonable set of effect ids held by tasks of this process.
#[derive(Debug, Clone, Default)]
pub struct LocalClaims {
    held: Arc<Mutex<HashSet<EffectId>>>,
}

impl LocalClaims {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Enters `effect_id`, or returns `None` if another task of this process holds it.
    /// The effect is released when the guard is dropped, also on error or panic.
    pub fn try_enter(&self, effect_id: &EffectId) -> Option<LocalClaimGuard> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.insert(effect_id.clone()).then(|| LocalClaimGuard {
            claims: self.clone(),
            effect_id: effect_id.clone(),
        })
    }

    fn release(&self, effect_id: &EffectId) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.remove(effect_id);
    }
}

/// Proof that this task is the only one of the process working on an effect.
#[derive(Debug)]
pub struct LocalClaimGuard {
    claims: LocalClaims,
    effect_id: EffectId,
}

impl Drop for LocalClaimGuard {
    fn drop(&mut self) {
        self.claims.release(&self.effect_id);
    }
}

#[cfg(test)]
mod tests {
    use sidefx_core::{BusinessKey, RunId, StepId};

    use super::*;

    fn effect(key: &str) -> EffectId {
        let run = RunId::parse("run-1").expect("run id");
        EffectId::new(
            &run,
            &StepId::charge_card(),
            &BusinessKey::parse(key).expect("key"),
        )
    }

    #[test]
    fn one_holder_per_effect_until_the_guard_drops() {
        let claims = LocalClaims::new();
        let guard = claims.try_enter(&effect("a")).expect("first enters");
        assert!(
            claims.try_enter(&effect("a")).is_none(),
            "second task is refused"
        );
        let other = claims.try_enter(&effect("b"));
        assert!(other.is_some(), "other effects are independent");
        drop(guard);
        assert!(claims.try_enter(&effect("a")).is_some(), "released on drop");
    }
}
