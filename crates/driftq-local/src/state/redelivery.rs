//! Redelivery (§3.4, §3.7–§3.9): the periodic scan of in-flight messages of
//! groups with open streams, and the immediate pass a nack triggers.
//!
//! Per due message, in order: `ack_timeout` is recorded if it has no error
//! yet → backoff gate → a key the group already committed is dropped → DLQ
//! when `max_attempts` is reached → redelivery to the next stream in
//! round-robin order with attempts + 1.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::{Item, Message};
use crate::state::State;
use crate::state::WalLog;
use crate::state::dispatch::{Pick, append_error, commit, key_scope, log_retry, pick_stream};
use crate::state::groups::{Group, InFlight};
use crate::state::idempotency::{ConsumeIdempotency, INVALID_LEASE};

/// A message whose attempts are used up and that must go to the DLQ.
#[derive(Debug)]
struct DlqCandidate {
    msg: Arc<Message>,
    attempts: u32,
    last_error: String,
}

/// What happened to one due message inside the group pass.
enum Step {
    Stay,
    Drop,
    DeadLetter,
}

impl State {
    /// The periodic scan: every group with at least one open stream.
    pub fn redelivery_tick(&mut self, now: Instant) {
        let targets: Vec<(String, String)> = self
            .topics
            .iter()
            .flat_map(|(t, topic)| {
                topic
                    .groups
                    .iter()
                    .filter(|(_, g)| !g.streams.is_empty())
                    .map(move |(g, _)| (t.clone(), g.clone()))
            })
            .collect();
        for (topic, group) in targets {
            self.redeliver_group(&topic, &group, now, None);
        }
    }

    /// Processes the due in-flight messages of one group; `only` limits the
    /// pass to one (partition, offset), as a nack does.
    pub fn redeliver_group(
        &mut self,
        topic: &str,
        group: &str,
        now: Instant,
        only: Option<(u32, u64)>,
    ) {
        let default_lease = self.limits.default_lease();
        let State {
            topics,
            consume_idem,
            log,
            ..
        } = self;
        let Some(g) = topics.get_mut(topic).and_then(|t| t.groups.get_mut(group)) else {
            return;
        };
        let mut pass = GroupPass {
            g,
            idem: consume_idem,
            log,
            names: (topic, group),
            default_lease,
        };
        let candidates = pass.run(now, only);
        let freed = !candidates.is_empty();
        for c in candidates {
            self.dead_letter(topic, group, &c);
        }
        if freed {
            self.dispatch_group(topic, group, now);
        }
    }

    fn dead_letter(&mut self, topic: &str, group: &str, c: &DlqCandidate) {
        let result = self.publish_dlq(topic, &c.msg, c.attempts, &c.last_error);
        let State {
            topics,
            log,
            counters,
            ..
        } = self;
        let Some(g) = topics.get_mut(topic).and_then(|t| t.groups.get_mut(group)) else {
            return;
        };
        let Some(gp) = g.parts.get_mut(&c.msg.partition) else {
            return;
        };
        match result {
            Ok(()) => {
                gp.inflight.remove(&c.msg.offset);
                gp.retry.remove(&c.msg.offset);
                commit(log, gp, &mut g.ever_committed, (topic, group), &c.msg);
                *counters.dlq.entry(topic.to_owned()).or_default() += 1;
            }
            Err(reason) => {
                // Q13: stays in flight; retried on every tick while the group has a stream.
                if let Some(e) = gp.inflight.get_mut(&c.msg.offset) {
                    let text =
                        format!("dlq_publish_failed: producer overload: {}", reason.as_str());
                    append_error(&mut e.last_error, &text);
                    gp.retry.insert(c.msg.offset, e.last_error.clone());
                    log_retry(log, topic, group, &c.msg, &e.last_error);
                }
            }
        }
    }
}

/// Borrowed pieces for one group's pass.
struct GroupPass<'a> {
    g: &'a mut Group,
    idem: &'a mut ConsumeIdempotency,
    log: &'a mut WalLog,
    names: (&'a str, &'a str),
    default_lease: Duration,
}

impl GroupPass<'_> {
    fn run(&mut self, now: Instant, only: Option<(u32, u64)>) -> Vec<DlqCandidate> {
        let keys: Vec<(u32, u64)> = self
            .g
            .parts
            .iter()
            .flat_map(|(p, gp)| gp.inflight.keys().map(move |o| (*p, *o)))
            .filter(|k| only.is_none_or(|o| o == *k))
            .collect();
        let mut candidates = Vec::new();
        for (p, offset) in keys {
            let Some(mut entry) = self
                .g
                .parts
                .get(&p)
                .and_then(|gp| gp.inflight.get(&offset))
                .cloned()
            else {
                continue;
            };
            match self.process(&mut entry, now) {
                Step::Stay => {
                    if let Some(gp) = self.g.parts.get_mut(&p) {
                        gp.inflight.insert(offset, entry);
                    }
                }
                Step::Drop => {
                    if let Some(gp) = self.g.parts.get_mut(&p) {
                        gp.inflight.remove(&offset);
                        commit(
                            self.log,
                            gp,
                            &mut self.g.ever_committed,
                            self.names,
                            &entry.msg,
                        );
                    }
                }
                Step::DeadLetter => {
                    if let Some(gp) = self.g.parts.get_mut(&p) {
                        gp.inflight.insert(offset, entry.clone());
                    }
                    candidates.push(DlqCandidate {
                        msg: entry.msg,
                        attempts: entry.attempts,
                        last_error: entry.last_error,
                    });
                }
            }
        }
        candidates
    }

    fn process(&mut self, e: &mut InFlight, now: Instant) -> Step {
        let lease = self.g.streams.lease_for(&e.owner, self.default_lease);
        if !e.due && now.duration_since(e.delivered_at) < lease {
            return Step::Stay;
        }
        if !e.due && e.last_error.is_empty() {
            e.last_error = "ack_timeout".to_owned();
            self.remember_error(e);
        }
        if !e.due && e.not_before.is_some_and(|t| now < t) {
            return Step::Stay;
        }
        let scope = key_scope(&e.msg, self.names.0, self.names.1);
        if scope.as_ref().is_some_and(|s| self.idem.is_committed(s)) {
            return Step::Drop;
        }
        let policy = e.msg.retry_policy().unwrap_or_default();
        if policy.max_attempts > 0 && i64::from(e.attempts) >= policy.max_attempts {
            return Step::DeadLetter;
        }
        match pick_stream(&mut self.g.streams, self.idem, scope.as_ref(), now) {
            Pick::Stream(i) => {
                e.owner = self.g.streams.slots[i].owner.clone();
                e.attempts += 1;
                e.delivered_at = now;
                e.due = false;
                e.not_before = policy.backoff(e.attempts - 1).map(|d| now + d);
                let line = Item::new(&e.msg, e.attempts, &e.last_error).to_line();
                self.g.streams.send(i, line);
            }
            Pick::InvalidLease => {
                append_error(&mut e.last_error, INVALID_LEASE);
                self.remember_error(e);
            }
            Pick::Nobody => {}
        }
        Step::Stay
    }

    fn remember_error(&mut self, e: &InFlight) {
        if let Some(gp) = self.g.parts.get_mut(&e.msg.partition) {
            gp.retry.insert(e.msg.offset, e.last_error.clone());
        }
        log_retry(self.log, self.names.0, self.names.1, &e.msg, &e.last_error);
    }
}
