//! The services' log files of a local stack, read like `tail -f`: what was written (all of it,
//! the last lines, or the recent ones), then what gets written, each line optionally prefixed
//! by its service.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use super::{DataDir, Service};
use crate::ui::Style;

/// How often followed files are checked for new lines.
pub const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Which of the lines already written to show.
#[derive(Debug, Clone, Copy, Default)]
pub struct Select {
    /// The last N lines of each log.
    pub tail: Option<usize>,
    /// Lines written at or after this time.
    pub since: Option<SystemTime>,
}

/// Follows the logs of `services` from their current end, each line prefixed by its
/// service, until the task is aborted: what foreground `sidefx up` shows under its own lines.
pub fn stream_from_now(
    dir: &DataDir,
    services: &[Service],
    style: Style,
) -> tokio::task::JoinHandle<Result<()>> {
    let width = services.iter().map(|s| s.name().len()).max().unwrap_or(0);
    let mut tails: Vec<Tail> = services
        .iter()
        .map(|s| {
            let path = dir.log_file(*s);
            let label = style.accent(&format!("{:<width$} |", s.name()));
            let mut tail = Tail::new(path, Some(label));
            // Logs are appended across runs: only this run's lines.
            tail.offset = std::fs::metadata(&tail.path).map_or(0, |m| m.len());
            tail
        })
        .collect();
    tokio::spawn(async move {
        loop {
            for tail in &mut tails {
                tail.print_new(false)?;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    })
}

/// A log file read incrementally, like `tail -f`.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    prefix: Option<String>,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    /// Reads `path` from its start; each printed line is preceded by `prefix`, if any.
    pub fn new(path: PathBuf, prefix: Option<String>) -> Self {
        Self {
            path,
            prefix,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// Prints the lines already written that `select` picks (a final partial line too if
    /// `flush`); a later [`Tail::print_new`] continues after them.
    pub fn print_selected(&mut self, select: Select, flush: bool) -> Result<()> {
        if select.tail.is_none() && select.since.is_none() {
            return self.print_new(flush);
        }
        let mut written = Vec::new();
        self.collect_new(flush, |line| written.push(line.to_owned()))?;
        for line in select_lines(&written, select) {
            self.print_line(line);
        }
        Ok(())
    }

    /// Prints the complete lines written since the last call (and a final partial line if `flush`).
    pub fn print_new(&mut self, flush: bool) -> Result<()> {
        let mut lines = Vec::new();
        self.collect_new(flush, |line| lines.push(line.to_owned()))?;
        for line in &lines {
            self.print_line(line);
        }
        Ok(())
    }

    fn print_line(&self, line: &str) {
        match &self.prefix {
            Some(prefix) => println!("{prefix} {line}"),
            None => println!("{line}"),
        }
    }

    /// Hands each complete line written since the last call to `each` (and a final partial
    /// line if `flush`).
    fn collect_new(&mut self, flush: bool, mut each: impl FnMut(&str)) -> Result<()> {
        let mut file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", self.path.display()));
            }
        };
        let len = file.metadata()?.len();
        if len < self.offset {
            self.offset = 0; // truncated or replaced: start over
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let read = file.read_to_end(&mut self.partial)?;
        self.offset += read as u64;
        let mut lines: Vec<&[u8]> = self.partial.split(|b| *b == b'\n').collect();
        let rest = if flush {
            Vec::new()
        } else {
            lines.pop().unwrap_or_default().to_vec()
        };
        for line in lines.iter().filter(|l| !(flush && l.is_empty())) {
            each(&String::from_utf8_lossy(line));
        }
        self.partial = rest;
        Ok(())
    }
}

/// The lines `select` keeps: those since its time (a line without a timestamp, like a
/// `Caused by:` line, goes with the line before it), then the last N of them.
fn select_lines(lines: &[String], select: Select) -> &[String] {
    let start = match select.since {
        None => 0,
        Some(since) => {
            let since = since
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            lines
                .iter()
                .position(|line| line_time(line).is_some_and(|t| t >= since))
                .unwrap_or(lines.len())
        }
    };
    let recent = &lines[start..];
    let skip = select.tail.map_or(0, |n| recent.len().saturating_sub(n));
    &recent[skip..]
}

/// When a log line was written (seconds since the epoch): the RFC 3339 UTC time that starts
/// a text line of the services, the `timestamp` of a JSON line, or the supervisor's `t=`.
fn line_time(line: &str) -> Option<u64> {
    if let Some(rest) = line.split_once("\"timestamp\":\"").map(|(_, r)| r) {
        return rfc3339_secs(rest);
    }
    if let Some(rest) = line.strip_prefix("[sidefx supervisor] t=") {
        return rest.split_whitespace().next()?.parse().ok();
    }
    rfc3339_secs(line)
}

/// `YYYY-MM-DDTHH:MM:SS…Z` at the start of `text`, in seconds since the epoch.
fn rfc3339_secs(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from the civil date (Howard Hinnant's algorithm), proleptic Gregorian, UTC.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_log_line_has_its_time() {
        assert_eq!(line_time("1970-01-02T00:00:01.5Z  INFO x"), Some(86_401));
        assert_eq!(rfc3339_secs("2024-03-01T00:00:00Z"), Some(1_709_251_200));
        assert_eq!(
            line_time(r#"{"timestamp":"1970-01-01T00:01:00Z","level":"INFO"}"#),
            Some(60)
        );
        assert_eq!(line_time("[sidefx supervisor] t=42 started api"), Some(42));
        assert_eq!(line_time("    binding: Address in use"), None);
    }

    #[test]
    fn since_keeps_continuations_and_tail_counts_from_the_end() {
        let lines: Vec<String> = [
            "1970-01-01T00:00:10Z old",
            "1970-01-01T00:00:20Z new",
            "Caused by: x",
            "1970-01-01T00:00:30Z newest",
        ]
        .map(str::to_owned)
        .to_vec();
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        let since = Select {
            tail: None,
            since: Some(at(15)),
        };
        assert_eq!(select_lines(&lines, since), &lines[1..]);
        let both = Select {
            tail: Some(2),
            since: Some(at(15)),
        };
        assert_eq!(select_lines(&lines, both), &lines[2..]);
        let future = Select {
            tail: None,
            since: Some(at(99)),
        };
        assert!(select_lines(&lines, future).is_empty());
    }
}
