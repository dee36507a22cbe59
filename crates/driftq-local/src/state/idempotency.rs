//! Idempotency stores: producer-side dedupe (§2.5.6) and consume-side key
//! leases (§3.10).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::error::ApiError;
use crate::wal::record::KeyOutcome;

/// Scope of a producer idempotency key: (tenant, final topic, key).
pub type ProducerKey = (String, String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProducerState {
    InProgress,
    Committed,
    Failed,
}

/// Producer idempotency records; each expires `ttl` after its last update.
#[derive(Debug)]
pub struct ProducerIdempotency {
    records: HashMap<ProducerKey, (ProducerState, Instant)>,
    ttl: Duration,
    reserves: u64,
}

/// Outcome of [`ProducerIdempotency::reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The key is now reserved by this request.
    Reserved,
    /// The key was already committed: answer as produced, store nothing.
    Duplicate,
}

impl ProducerIdempotency {
    /// An empty store.
    pub fn new(ttl: Duration) -> Self {
        ProducerIdempotency {
            records: HashMap::new(),
            ttl,
            reserves: 0,
        }
    }

    /// Reserves `key` unless it is committed (duplicate) or another request holds it.
    pub fn reserve(&mut self, key: &ProducerKey, now: Instant) -> Result<Reservation, ApiError> {
        self.reserves += 1;
        if self.reserves.is_multiple_of(1024) {
            let ttl = self.ttl;
            self.records
                .retain(|_, (_, at)| now.duration_since(*at) < ttl);
        }
        let live = self
            .records
            .get(key)
            .filter(|(_, at)| now.duration_since(*at) < self.ttl);
        match live.map(|(state, _)| *state) {
            Some(ProducerState::Committed) => Ok(Reservation::Duplicate),
            Some(ProducerState::InProgress) => {
                Err(ApiError::invalid("idempotency: key already in-flight"))
            }
            Some(ProducerState::Failed) | None => {
                self.records
                    .insert(key.clone(), (ProducerState::InProgress, now));
                Ok(Reservation::Reserved)
            }
        }
    }

    /// The produce was stored: later duplicates are dropped.
    pub fn commit(&mut self, key: ProducerKey, now: Instant) {
        self.records.insert(key, (ProducerState::Committed, now));
    }

    /// The produce failed: a retry may proceed.
    pub fn fail(&mut self, key: ProducerKey, now: Instant) {
        self.records.insert(key, (ProducerState::Failed, now));
    }
}

/// Scope of a consume-side key: (tenant, topic, group, key).
pub type ConsumeKey = (String, String, String, String);

#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyState {
    Leased { owner: String, expires: Instant },
    Committed,
    Failed,
}

/// Why a consume lease could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeginRefusal {
    /// The stream's lease is outside 250 ms ..= 10 min.
    InvalidLease,
    /// Another owner holds an unexpired lease.
    Held,
}

/// The `last_error` text recorded when a lease is refused for its duration.
pub const INVALID_LEASE: &str = "idem_begin_failed: idempotency: invalid lease duration";
/// Error of an ack/nack whose consume lease is gone.
pub const LEASE_LOST: &str = "idempotency: lease lost or expired";

const MIN_LEASE: Duration = Duration::from_millis(250);
const MAX_LEASE: Duration = Duration::from_secs(600);

/// Consume-side idempotency records.
#[derive(Debug, Default)]
pub struct ConsumeIdempotency {
    records: HashMap<ConsumeKey, KeyState>,
}

impl ConsumeIdempotency {
    /// True when the group already committed this key (the message is skipped).
    pub fn is_committed(&self, key: &ConsumeKey) -> bool {
        matches!(self.records.get(key), Some(KeyState::Committed))
    }

    /// Takes the lease for `owner` for `lease`.
    pub fn begin(
        &mut self,
        key: &ConsumeKey,
        owner: &str,
        lease: Duration,
        now: Instant,
    ) -> Result<(), BeginRefusal> {
        if !(MIN_LEASE..=MAX_LEASE).contains(&lease) {
            return Err(BeginRefusal::InvalidLease);
        }
        if let Some(KeyState::Leased {
            owner: holder,
            expires,
        }) = self.records.get(key)
            && holder != owner
            && *expires > now
        {
            return Err(BeginRefusal::Held);
        }
        let expires = now + lease;
        self.records.insert(
            key.clone(),
            KeyState::Leased {
                owner: owner.to_owned(),
                expires,
            },
        );
        Ok(())
    }

    /// Checks that `owner` still holds a live lease (ack checks 10 and 11).
    pub fn check_lease(&self, key: &ConsumeKey, owner: &str, now: Instant) -> Result<(), ApiError> {
        match self.records.get(key) {
            Some(KeyState::Leased {
                owner: holder,
                expires,
            }) if *expires > now => {
                if holder == owner {
                    Ok(())
                } else {
                    Err(ApiError::NotOwner)
                }
            }
            _ => Err(ApiError::invalid(LEASE_LOST)),
        }
    }

    /// Records a final outcome (also used when replaying the WAL).
    pub fn settle(&mut self, key: ConsumeKey, outcome: KeyOutcome) {
        let state = match outcome {
            KeyOutcome::Committed => KeyState::Committed,
            KeyOutcome::Failed => KeyState::Failed,
        };
        self.records.insert(key, state);
    }
}
