//! `sidefx logs`: the services' output. Local mode reads (and follows) the log files in the data
//! dir, prefixing lines with the service when showing several, optionally only the last lines
//! (`--tail`) or the recent ones (`--since`); Docker mode is `docker compose logs`.

use std::time::{Duration, SystemTime};

use anyhow::Result;

use crate::stack::log_files::{FOLLOW_POLL, Select, Tail};
use crate::stack::state::StackState;
use crate::stack::{DataDir, Mode, ModeArgs, Service, docker};
use crate::ui::Style;

/// Flags of `sidefx logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Only this service (default: all of them).
    #[arg(value_enum)]
    pub service: Option<Service>,
    /// Keep printing new lines as they are written (Ctrl-C to stop).
    #[arg(long, short)]
    pub follow: bool,
    /// Only the last N lines of each service (then, with -f, the new ones).
    #[arg(long, short = 'n', value_name = "N")]
    pub tail: Option<usize>,
    /// Only lines written in the last DURATION: `90s`, `10m`, `2h`, `1d` (a plain number is
    /// seconds).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<std::time::Duration>,
    #[command(flatten)]
    pub mode: ModeArgs,
}

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
}
