//! When may a claim be taken over? Its expiry is written with the claimer's wall clock and
//! would be checked with the taker's; a taker whose clock runs ahead would take over a live
//! claim. So this process also measures expiry on its own monotonic clock: it takes over a
//! claim only after watching it, unchanged (same owner, lease and attempts), for a full claim
//! lease. Every heartbeat changes the lease, which restarts the watch, so a live claim is never
//! taken over, whatever the clocks say. The cost: a claim first seen late waits up to one
//! lease longer than the wall clock alone would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sidefx_core::{EffectId, EffectRow};
use tokio::time::Instant;

/// Entries kept before old ones are swept.
const SWEEP_ABOVE: usize = 10_000;
/// A sighting this old is swept: far longer than any claim lease, so a claim still watched is
/// never forgotten by the sweep (forgetting would restart its watch, which is safe but slow).
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// What identifies one version of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    owner: Option<String>,
    lease_expires_ms: Option<i64>,
    attempts: u32,
}

impl Version {
    fn of(row: &EffectRow) -> Self {
        Self {
            owner: row.owner.clone(),
            lease_expires_ms: row.lease_expires_ms,
            attempts: row.attempts,
        }
    }
}

/// The claims this process has seen held by others, and since when; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ClaimWatch {
    seen: Arc<Mutex<HashMap<EffectId, (Version, Instant)>>>,
}

impl ClaimWatch {
    /// A watch that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long this process has seen the claim in `row` unchanged, by its own monotonic
    /// clock at `now`. The first sighting of a version starts its watch (and answers zero).
    pub fn watched(&self, row: &EffectRow, now: Instant) -> Duration {
        let version = Version::of(row);
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() > SWEEP_ABOVE {
            seen.retain(|_, (_, first)| now.saturating_duration_since(*first) < STALE_AFTER);
        }
        let entry = seen
            .entry(row.effect_id.clone())
            .or_insert_with(|| (version.clone(), now));
        if entry.0 != version {
            *entry = (version, now);
        }
        now.saturating_duration_since(entry.1)
    }

    /// Forgets an effect (taken over or finished here).
    pub fn forget(&self, id: &EffectId) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
}

#[cfg(test)]
mod tests {
    use sidefx_core::{BusinessKey, EffectStatus, RunId, StepId};

    use super::*;

    fn row(owner: &str, lease_expires_ms: i64) -> EffectRow {
        let (run, step, key) = (
            RunId::parse("r1").unwrap(),
            StepId::charge_card(),
            BusinessKey::parse("k").unwrap(),
        );
        EffectRow {
            effect_id: EffectId::new(&run, &step, &key),
            run_id: run,
            step_id: step,
            business_key: key,
            status: EffectStatus::InProgress,
            artifact_path: None,
            created_ms: 0,
            updated_ms: 0,
            payload_json: "{}".into(),
            owner: Some(owner.into()),
            lease_expires_ms: Some(lease_expires_ms),
            attempts: 1,
            receipt: None,
        }
    }

    #[test]
    fn a_claim_counts_as_expired_only_after_a_full_lease_of_watching() {
        let (watch, lease, t0) = (ClaimWatch::new(), Duration::from_secs(5), Instant::now());
        // Whatever its wall-clock expiry says (here: long past), the first sighting is live.
        let claim = row("w1", 0);
        assert!(watch.watched(&claim, t0) < lease);
        assert!(watch.watched(&claim, t0 + Duration::from_millis(4999)) < lease);
        assert!(watch.watched(&claim, t0 + lease) >= lease);
    }

    #[test]
    fn a_renewed_claim_restarts_the_watch() {
        let (watch, lease, t0) = (ClaimWatch::new(), Duration::from_secs(5), Instant::now());
        assert!(watch.watched(&row("w1", 100), t0) < lease);
        // A heartbeat moved the lease: a new version, watched from scratch.
        let renewed = row("w1", 200);
        assert!(watch.watched(&renewed, t0 + Duration::from_secs(6)) < lease);
        assert!(watch.watched(&renewed, t0 + Duration::from_secs(11)) >= lease);
        watch.forget(&renewed.effect_id);
        assert!(watch.watched(&renewed, t0 + Duration::from_secs(12)) < lease);
    }
}
