//! CPU time and peak memory of the stack's processes, read from `/proc` (Linux): CPU is
//! utime + stime of `/proc/<pid>/stat` (every thread of the process), memory is `VmHWM`
//! (peak resident set) of `/proc/<pid>/status`. Both cost a file read, nothing in the target.

use std::collections::BTreeMap;

use serde::Serialize;

/// `/proc` reports CPU time in USER_HZ ticks, which the kernel ABI fixes at 100 per second.
const TICKS_PER_S: f64 = 100.0;

/// One process to measure: its role in the stack (`api`, `worker`, `driftq`) and PID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// `api`, `worker` or `driftq`.
    pub role: String,
    /// Process id.
    pub pid: u32,
}

/// Parses `api=1,worker=2` items (already split on commas).
pub fn parse_pids(items: &[String]) -> Result<Vec<Watched>, String> {
    items
        .iter()
        .map(|item| {
            let (role, pid) = item
                .split_once('=')
                .ok_or_else(|| format!("--pids: `{item}` is not ROLE=PID"))?;
            let pid = pid
                .trim()
                .parse()
                .map_err(|_| format!("--pids: `{pid}` is not a PID"))?;
            Ok(Watched {
                role: role.trim().to_owned(),
                pid,
            })
        })
        .collect()
}

/// CPU ticks (utime + stime) of `pid`, or `None` if it is gone.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces: count fields after its closing paren.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, i.e. 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Peak resident set (`VmHWM`) of `pid` in KiB, or `None` if it is gone.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU counters of the watched processes at the start of the measurement.
#[derive(Debug)]
pub struct CpuBaseline {
    start: Vec<(Watched, Option<u64>)>,
}

impl CpuBaseline {
    /// Reads every process's CPU counter now.
    pub fn take(watched: &[Watched]) -> Self {
        Self {
            start: watched
                .iter()
                .map(|w| (w.clone(), cpu_ticks(w.pid)))
                .collect(),
        }
    }

    /// The figures of each role since [`CpuBaseline::take`]: CPU summed over the role's
    /// processes, peak RSS the largest of them. A process that exited (or restarted under a
    /// new PID) in between is left out and named in `missing`.
    pub fn finish(&self, completed: usize) -> Vec<RoleFigures> {
        let mut roles: BTreeMap<String, RoleFigures> = BTreeMap::new();
        for (watched, start) in &self.start {
            let figures = roles
                .entry(watched.role.clone())
                .or_insert_with(|| RoleFigures::empty(&watched.role));
            figures.pids.push(watched.pid);
            match (start, cpu_ticks(watched.pid), peak_rss_kib(watched.pid)) {
                (Some(start), Some(end), Some(rss)) => {
                    figures.cpu_s += end.saturating_sub(*start) as f64 / TICKS_PER_S;
                    figures.peak_rss_mb = figures.peak_rss_mb.max(rss as f64 / 1024.0);
                }
                _ => figures.missing.push(watched.pid),
            }
        }
        for figures in roles.values_mut() {
            figures.cpu_ms_per_run = if completed == 0 {
                0.0
            } else {
                figures.cpu_s * 1000.0 / completed as f64
            };
        }
        roles.into_values().collect()
    }
}

/// What one role's processes cost over the benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct RoleFigures {
    /// `api`, `worker` or `driftq`.
    pub role: String,
    /// The measured processes.
    pub pids: Vec<u32>,
    /// CPU seconds (user + system) over the measurement.
    pub cpu_s: f64,
    /// `cpu_s` per completed run, in milliseconds.
    pub cpu_ms_per_run: f64,
    /// Largest peak resident set (`VmHWM`) of the role's processes, in MiB.
    pub peak_rss_mb: f64,
    /// PIDs that were gone at the end (exited or restarted): not counted.
    pub missing: Vec<u32>,
}

impl RoleFigures {
    fn empty(role: &str) -> Self {
        Self {
            role: role.to_owned(),
            pids: Vec::new(),
            cpu_s: 0.0,
            cpu_ms_per_run: 0.0,
            peak_rss_mb: 0.0,
            missing: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_role_pid_pairs() {
        let items = ["api=12".to_owned(), " worker = 34".to_owned()];
        let watched = parse_pids(&items).unwrap();
        assert_eq!(
            watched[1],
            Watched {
                role: "worker".into(),
                pid: 34
            }
        );
        assert!(parse_pids(&["api".to_owned()]).is_err());
        assert!(parse_pids(&["api=x".to_owned()]).is_err());
    }

    #[test]
    fn measures_this_process() {
        let me = [Watched {
            role: "self".into(),
            pid: std::process::id(),
        }];
        let baseline = CpuBaseline::take(&me);
        // Burn a little CPU so the counter can move (no assertion on how much).
        let sum: u64 = (0..2_000_000u64).fold(0, |a, b| a.wrapping_add(b * b));
        assert!(sum > 0);
        let figures = baseline.finish(10);
        assert_eq!(figures.len(), 1);
        assert!(figures[0].missing.is_empty());
        assert!(figures[0].peak_rss_mb > 0.0);
    }
}
