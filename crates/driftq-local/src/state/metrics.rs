//! Prometheus text exposition (§2.9) of the DriftQ metric families.

use std::fmt::Write;

use crate::state::State;

/// Escapes a label value (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl State {
    /// Renders `inflight_messages`, `consumer_lag`, `dlq_messages_total` and
    /// `produce_rejected_total` in the text format (version 0.0.4).
    pub fn render_metrics(&self) -> String {
        let mut inflight = String::new();
        let mut lag = String::new();
        for (tname, t) in &self.topics {
            for (gname, g) in &t.groups {
                let active = g.ever_committed
                    || !g.streams.is_empty()
                    || g.parts.values().any(|gp| !gp.inflight.is_empty());
                if !active {
                    continue;
                }
                for (p, part) in t.partitions.iter().enumerate() {
                    let gp = g.parts.get(&(p as u32));
                    let committed = gp.map_or(-1, |gp| gp.committed);
                    let n_inflight = gp.map_or(0, |gp| gp.inflight.len());
                    let n_lag = part.messages.len() - part.first_after(committed);
                    let labels = format!(
                        "topic=\"{}\",group=\"{}\",partition=\"{p}\"",
                        label(tname),
                        label(gname)
                    );
                    let _ = writeln!(inflight, "inflight_messages{{{labels}}} {n_inflight}");
                    let _ = writeln!(lag, "consumer_lag{{{labels}}} {n_lag}");
                }
            }
        }
        let mut out = String::new();
        // Not DriftQ families: the WAL's health, and when streams are registered.
        out.push_str("# HELP driftq_local_wal_degraded 1 while the last WAL write failed.\n");
        out.push_str("# TYPE driftq_local_wal_degraded gauge\n");
        let degraded = u8::from(self.log.wal_degraded());
        let _ = writeln!(out, "driftq_local_wal_degraded {degraded}");
        out.push_str("# HELP driftq_local_open_streams Open consume streams per group.\n");
        out.push_str("# TYPE driftq_local_open_streams gauge\n");
        for (tname, t) in &self.topics {
            for (gname, g) in &t.groups {
                let _ = writeln!(
                    out,
                    "driftq_local_open_streams{{topic=\"{}\",group=\"{}\"}} {}",
                    label(tname),
                    label(gname),
                    g.streams.slots.len()
                );
            }
        }
        out.push_str("# HELP inflight_messages Delivered but not yet acked messages.\n");
        out.push_str("# TYPE inflight_messages gauge\n");
        out.push_str(&inflight);
        out.push_str("# HELP consumer_lag Stored messages above the group's committed offset.\n");
        out.push_str("# TYPE consumer_lag gauge\n");
        out.push_str(&lag);
        out.push_str("# HELP dlq_messages_total Messages moved to a dead-letter topic.\n");
        out.push_str("# TYPE dlq_messages_total counter\n");
        for (topic, n) in &self.counters.dlq {
            let _ = writeln!(
                out,
                "dlq_messages_total{{topic=\"{}\",reason=\"max_attempts_reached\"}} {n}",
                label(topic)
            );
        }
        out.push_str("# HELP produce_rejected_total Produces refused by backpressure.\n");
        out.push_str("# TYPE produce_rejected_total counter\n");
        for (reason, n) in &self.counters.rejected {
            let _ = writeln!(out, "produce_rejected_total{{reason=\"{reason}\"}} {n}");
        }
        out
    }
}
