//! Remembers the broker's last backpressure refusal, so `/healthz` can say `degraded` while
//! `POST /runs` is being refused. The broker's own health stays `ok` when a partition is
//! full (e.g. an abandoned consumer group holds it), so without this the API looked healthy
//! while every new run got 503.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// How long after the last refusal `/healthz` still reports `degraded`.
pub const DEGRADED_FOR: Duration = Duration::from_secs(30);

/// Response extension set by `ApiError::into_response` on a backpressure refusal: the
/// broker's reason (e.g. `partition_buffer_full`).
#[derive(Debug, Clone)]
pub(crate) struct BackpressureSeen(pub(crate) String);

/// The last refusal and when it happened; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct BrokerPressure {
    last: Arc<Mutex<Option<(Instant, String)>>>,
}

impl BrokerPressure {
    /// Records a refusal now.
    pub fn record(&self, reason: &str) {
        *self.lock() = Some((Instant::now(), reason.to_owned()));
    }

    /// The last refusal's reason and age, if it is younger than [`DEGRADED_FOR`].
    pub fn recent(&self) -> Option<(String, Duration)> {
        let last = self.lock();
        let (at, reason) = last.as_ref()?;
        let age = at.elapsed();
        (age < DEGRADED_FOR).then(|| (reason.clone(), age))
    }

    /// Never held across an `.await`; a poisoned lock still holds a valid value.
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, String)>> {
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Middleware: notes every backpressure refusal any handler answered with.
pub(crate) async fn observe(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if let Some(BackpressureSeen(reason)) = response.extensions().get::<BackpressureSeen>() {
        state.broker_pressure.record(reason);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_recent_until_it_ages_out() {
        let pressure = BrokerPressure::default();
        assert_eq!(pressure.recent(), None);
        pressure.record("partition_buffer_full");
        let (reason, age) = pressure.recent().expect("recent");
        assert_eq!(reason, "partition_buffer_full");
        assert!(age < DEGRADED_FOR);
        *pressure.lock() = Some((Instant::now() - DEGRADED_FOR, "old".into()));
        assert_eq!(pressure.recent(), None);
    }
}
