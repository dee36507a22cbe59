//! `sidefx logs`: the services' output. Local mode reads (and follows) the log files in the data
//! dir, prefixing lines with the service when showing several; Docker mode is `docker compose logs`.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

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
    match mode {
        Mode::Docker => docker::logs(state.as_ref(), args.service, args.follow).await,
        Mode::Local => local(dir, args.service, args.follow, style).await,
    }
}

async fn local(dir: &DataDir, service: Option<Service>, follow: bool, style: Style) -> Result<()> {
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
    if !follow {
        for tail in &mut tails {
            tail.print_new(true)?;
        }
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

    /// Prints the complete lines written since the last call (and a final partial line if `flush`).
    fn print_new(&mut self, flush: bool) -> Result<()> {
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
            let line = String::from_utf8_lossy(line);
            match &self.prefix {
                Some(prefix) => println!("{prefix} {line}"),
                None => println!("{line}"),
            }
        }
        self.partial = rest;
        Ok(())
    }
}
