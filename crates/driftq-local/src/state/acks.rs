//! Ack and nack (§2.7, §2.8, §3.6, §3.7): checks 6–11 and their effects.

use std::time::Instant;

use crate::error::ApiError;
use crate::state::State;
use crate::state::dispatch::{append_error, commit, key_scope, log_retry};
use crate::state::groups::{Group, GroupPartition};
use crate::wal::Record;
use crate::wal::record::KeyOutcome;

/// An ack/nack target whose syntax checks (1–5) passed.
#[derive(Debug, Clone)]
pub struct AckTarget {
    /// Topic (trimmed).
    pub topic: String,
    /// Group (trimmed).
    pub group: String,
    /// Caller's owner name (trimmed).
    pub owner: String,
    /// Partition (≥ 0).
    pub partition: u32,
    /// Offset.
    pub offset: u64,
}

impl State {
    /// Checks 6–9: the topic exists, the partition is in range, the message is
    /// in flight for the group and owned by the caller.
    fn in_flight(&mut self, t: &AckTarget) -> Result<(), ApiError> {
        let topic = self
            .topics
            .get(&t.topic)
            .ok_or_else(|| ApiError::invalid("topic does not exist"))?;
        if t.partition >= topic.partition_count() {
            return Err(ApiError::invalid("partition out of range"));
        }
        let entry = topic
            .groups
            .get(&t.group)
            .and_then(|g| g.parts.get(&t.partition))
            .and_then(|gp| gp.inflight.get(&t.offset))
            .ok_or_else(|| ApiError::invalid("message is not in-flight"))?;
        if entry.owner != t.owner {
            return Err(ApiError::NotOwner);
        }
        Ok(())
    }

    /// Acks a message: commits its key, removes it from flight, raises the
    /// committed offset and dispatches the freed slot.
    pub fn ack(&mut self, t: &AckTarget, now: Instant) -> Result<(), ApiError> {
        self.in_flight(t)?;
        let State {
            topics,
            consume_idem,
            log,
            ..
        } = self;
        let Some((ever_committed, gp)) = locate(topics, t) else {
            return Err(ApiError::invalid("message is not in-flight"));
        };
        let Some(entry) = gp.inflight.get(&t.offset) else {
            return Err(ApiError::invalid("message is not in-flight"));
        };
        let msg = std::sync::Arc::clone(&entry.msg);
        if let Some(scope) = key_scope(&msg, &t.topic, &t.group) {
            consume_idem.check_lease(&scope, &t.owner, now)?;
            log.append(&key_record(&scope, KeyOutcome::Committed));
            consume_idem.settle(scope, KeyOutcome::Committed);
        }
        gp.inflight.remove(&t.offset);
        gp.retry.remove(&t.offset);
        commit(log, gp, ever_committed, (&t.topic, &t.group), &msg);
        self.dispatch_group(&t.topic, &t.group, now);
        Ok(())
    }

    /// Nacks a message: appends the reason, marks its key failed and runs the
    /// redelivery pass for it at once (ignoring backoff).
    pub fn nack(&mut self, t: &AckTarget, reason: &str, now: Instant) -> Result<(), ApiError> {
        self.in_flight(t)?;
        let State {
            topics,
            consume_idem,
            log,
            ..
        } = self;
        let Some((_, gp)) = locate(topics, t) else {
            return Err(ApiError::invalid("message is not in-flight"));
        };
        let Some(entry) = gp.inflight.get_mut(&t.offset) else {
            return Err(ApiError::invalid("message is not in-flight"));
        };
        let reason = reason.trim();
        append_error(
            &mut entry.last_error,
            if reason.is_empty() { "nack" } else { reason },
        );
        if let Some(scope) = key_scope(&entry.msg, &t.topic, &t.group) {
            match consume_idem.check_lease(&scope, &t.owner, now) {
                Ok(()) => {
                    log.append(&key_record(&scope, KeyOutcome::Failed));
                    consume_idem.settle(scope, KeyOutcome::Failed);
                }
                Err(e) => append_error(&mut entry.last_error, &format!("idem_fail_failed: {e}")),
            }
        }
        entry.due = true;
        let text = entry.last_error.clone();
        let msg = std::sync::Arc::clone(&entry.msg);
        gp.retry.insert(t.offset, text.clone());
        log_retry(log, &t.topic, &t.group, &msg, &text);
        self.redeliver_group(&t.topic, &t.group, now, Some((t.partition, t.offset)));
        Ok(())
    }
}

/// The group's `ever_committed` flag and partition state of an ack target.
fn locate<'a>(
    topics: &'a mut std::collections::BTreeMap<String, crate::state::topics::Topic>,
    t: &AckTarget,
) -> Option<(&'a mut bool, &'a mut GroupPartition)> {
    let g = topics.get_mut(&t.topic)?.groups.get_mut(&t.group)?;
    let Group {
        parts,
        ever_committed,
        ..
    } = g;
    Some((ever_committed, parts.get_mut(&t.partition)?))
}

fn key_record(scope: &crate::state::idempotency::ConsumeKey, outcome: KeyOutcome) -> Record {
    Record::ConsumeKey {
        tenant: scope.0.clone(),
        topic: scope.1.clone(),
        group: scope.2.clone(),
        key: scope.3.clone(),
        outcome,
    }
}
