//! `sidefx logs`: the services' output. Local mode reads (and follows) the log files in the data
//! dir, prefixing lines with the service when showing several, optionally only the last lines
//! (`--tail`) or the recent ones (`--since`); Docker mode is `docker compose logs`.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use crate::cli::LogsArgs;
use crate::stack::state::StackState;
use crate::stack::{DataDir, Mode, Service, docker};
use crate::ui::Style;

/// How often followed files are checked for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// `sidefx logs [service] [-f]`.
pub async fn run(dir: &DataDir, args: &LogsArgs, style: Style) -> Result<()> {
    let state = StackState::load(dir)?;
    let has_log_files = Service::ALL.iter().any(|s| dir.log_file(*s).is_file());
    // Local log files outlive the stack, so they are readable after `down` too.
    let mode = match crate::stack::resolve_mode(args.mode, state.as_ref())? {
        Some(mode) => mode,
        None if has_log_files => Mode::Local,
        None => crate::stack::require_mode(dir, args.mode, None)?,
    };
    let select = Select {
        tail: args.tail,
        since: args.since.map(|d| SystemTime::now() - d),
    };
    match mode {
        Mode::Docker => {
            let mut flags = Vec::new();
            if let Some(n) = args.tail {
                flags.extend(["--tail".to_owned(), n.to_string()]);
            }
            if let Some(since) = args.since {
                flags.extend(["--since".to_owned(), format!("{}s", since.as_secs())]);
            }
            docker::logs(state.as_ref(), args.service, args.follow, &flags).await
        }
        Mode::Local => local(dir, args.service, args.follow, select, style).await,
    }
}

/// Which of the lines already written to show.
#[derive(Debug, Clone, Copy, Default)]
pub struct Select {
    /// The last N lines of each log.
    pub tail: Option<usize>,
    /// Lines written at or after this time.
    pub since: Option<SystemTime>,
}

async fn local(
    dir: &DataDir,
    service: Option<Service>,
    follow: bool,
    select: Select,
    style: Style,
) -> Result<()> {
    // Every service that has a log: a ticket-mode stack has no provider.log.
    let services = service.map_or_else(
        || {
            Service::ALL
                .into_iter()
                .filter(|s| *s != Service::Provider || dir.log_file(*s).is_file())
                .collect()
        },
        |s| vec![s],
    );
    let prefix = services.len() > 1;
    let width = services.iter().map(|s| s.name().len()).max().unwrap_or(0);
    let mut tails: Vec<Tail> = services
        .iter()
        .map(|s| {
            Tail::new(
                dir.log_file(*s),
                prefix.then(|| style.accent(&format!("{:<width$} |", s.name()))),
            )
        })
        .collect();
    if prefix && follow {
        let label = style.dim(&format!("{:<width$} |", "sidefx"));
        tails.push(Tail::new(dir.supervisor_log(), Some(label)));
    }
    for tail in &mut tails {
        tail.print_selected(select, !follow)?;
    }
    if !follow {
        return Ok(());
    }
    let mut stop = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        for tail in &mut tails {
            tail.print_new(false)?;
        }
        tokio::select! {
            _ = &mut stop => return Ok(()),
            () = tokio::time::sleep(FOLLOW_POLL) => {}
        }
    }
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
struct Tail {
    path: PathBuf,
    prefix: Option<String>,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    fn new(path: PathBuf, prefix: Option<String>) -> Self {
        Self {
            path,
            prefix,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// Prints the lines already written that `select` picks (a final partial line too if
    /// `flush`); a later [`Tail::print_new`] continues after them.
    fn print_selected(&mut self, select: Select, flush: bool) -> Result<()> {
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
    fn print_new(&mut self, flush: bool) -> Result<()> {
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

/// `--since`: `90s`, `10m`, `2h`, `1d`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a duration like 90s, 10m, 2h or 1d"))?;
    let unit_secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(n.saturating_mul(unit_secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_have_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("5 weeks").is_err());
        assert!(parse_duration("m").is_err());
    }

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
