//! Keys whose first request is being processed right now, kept in memory only: a restart
//! forgets them, like a real provider whose request died with its process.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

/// The set of in-flight keys, shared by every request.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<Mutex<HashSet<String>>>);

impl InFlight {
    /// Claims `key` for this request, or `None` when another request holds it. The claim
    /// lasts as long as the returned guard.
    pub fn try_claim(&self, key: &str) -> Option<InFlightGuard> {
        let mut keys = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !keys.insert(key.to_owned()) {
            return None;
        }
        Some(InFlightGuard {
            set: self.clone(),
            key: key.to_owned(),
        })
    }

    /// The claimed keys, sorted (for the ledger).
    pub fn keys(&self) -> Vec<String> {
        let keys = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<String> = keys.iter().cloned().collect();
        list.sort();
        list
    }
}

/// Holds a key in flight; dropping it (request done, or its future dropped because the client
/// hung up) releases the key.
#[derive(Debug)]
pub struct InFlightGuard {
    set: InFlight,
    key: String,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut keys = self.set.0.lock().unwrap_or_else(PoisonError::into_inner);
        keys.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_claimed_once_until_its_guard_drops() {
        let inflight = InFlight::default();
        let guard = inflight.try_claim("k").expect("free key");
        assert!(inflight.try_claim("k").is_none());
        assert!(inflight.try_claim("other").is_some());
        assert_eq!(inflight.keys(), vec!["k".to_owned()]);
        drop(guard);
        assert!(inflight.try_claim("k").is_some());
    }
}
