//! Bounds on open event streams (`GET /runs/{id}/events`): a global one and one per client
//! (peer IP address).
//!
//! A stream stays open for as long as its client likes, so without a bound of their own
//! streams would take every connection slot and starve requests. Design: an admitted
//! stream gives its connection slot back (`conn_limit::ConnectionSlot::release`) and is
//! counted here instead, so requests and streams can never starve each other; the
//! per-client bound keeps one client from taking every stream. Beyond either bound the
//! answer is 503 `too_many_streams` with `Retry-After`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// Default of `--max-streams`.
pub const DEFAULT_MAX_STREAMS: u32 = 128;
/// Default of `--max-streams-per-client`.
pub const DEFAULT_MAX_STREAMS_PER_CLIENT: u32 = 16;

/// The stream bounds of one API process; clones share the counts.
#[derive(Debug, Clone)]
pub struct StreamLimits {
    global: Arc<Semaphore>,
    per_client: Arc<Mutex<HashMap<IpAddr, u32>>>,
    max_per_client: u32,
}

/// One admitted stream; dropping it (the stream ended) frees its place.
#[derive(Debug)]
pub struct StreamPermit {
    _global: OwnedSemaphorePermit,
    client: IpAddr,
    per_client: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl StreamLimits {
    /// At most `max` streams, `max_per_client` of them from one IP address.
    pub fn new(max: u32, max_per_client: u32) -> Self {
        StreamLimits {
            global: Arc::new(Semaphore::new(
                usize::try_from(max.max(1)).unwrap_or(usize::MAX),
            )),
            per_client: Arc::default(),
            max_per_client: max_per_client.max(1),
        }
    }

    /// Admits a stream for `client`, or refuses it with [`ApiError::TooManyStreams`].
    pub fn admit(&self, client: IpAddr) -> Result<StreamPermit, ApiError> {
        let global = Arc::clone(&self.global)
            .try_acquire_owned()
            .map_err(|_| ApiError::TooManyStreams)?;
        let mut counts = self
            .per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(client).or_default();
        if *count >= self.max_per_client {
            return Err(ApiError::TooManyStreams);
        }
        *count += 1;
        Ok(StreamPermit {
            _global: global,
            client,
            per_client: Arc::clone(&self.per_client),
        })
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut counts = self
            .per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_and_per_client_bounds() {
        let limits = StreamLimits::new(3, 2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let a1 = limits.admit(a).unwrap();
        let _a2 = limits.admit(a).unwrap();
        assert!(limits.admit(a).is_err(), "per-client bound");
        let _b1 = limits.admit(b).unwrap();
        assert!(limits.admit(b).is_err(), "global bound");
        drop(a1);
        assert!(limits.admit(a).is_ok(), "a freed place is reused");
    }
}
