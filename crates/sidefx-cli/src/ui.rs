//! Terminal presentation: colours only when the output is a terminal (and `NO_COLOR` is unset),
//! a one-line spinner for waits that redraws itself on a terminal and prints once elsewhere,
//! a countdown for the waits of the crash demos, and a quiet exit when the reader of our output goes away (`sidefx logs | head -1`).

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// Colours for stdout, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Colours when stdout is a terminal and `NO_COLOR` is not set.
    pub fn detect() -> Self {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self { color }
    }

    /// No colours at all (tests, logs).
    #[cfg(test)]
    pub fn plain() -> Self {
        Self { color: false }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Success (green).
    pub fn ok(self, text: &str) -> String {
        self.paint("32", text)
    }

    /// Failure (red).
    pub fn err(self, text: &str) -> String {
        self.paint("31", text)
    }

    /// Needs attention (yellow).
    pub fn warn(self, text: &str) -> String {
        self.paint("33", text)
    }

    /// Recovery and notable things (cyan).
    pub fn accent(self, text: &str) -> String {
        self.paint("36", text)
    }

    /// Secondary information (dim).
    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    /// Headings (bold).
    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
}

/// Prints `error: <e and its causes>` on stderr; the exit status of a command that failed.
pub fn print_error(e: &anyhow::Error, style: Style) -> std::process::ExitCode {
    eprintln!("{} {e:#}", style.err("error:"));
    std::process::ExitCode::FAILURE
}

/// Makes a closed stdout or stderr end the process quietly with status 0 instead of a panic.
///
/// `println!` panics when the reader of a pipe has gone (`sidefx status | head -1`): Rust
/// ignores SIGPIPE, so the write fails with `EPIPE` and the panic exits 101 with a message
/// about "Broken pipe". Restoring the default SIGPIPE disposition needs `unsafe` (forbidden
/// in this workspace), and routing every line of every command through a checked writer
/// would touch all of them; a panic hook catches the one panic that means "nobody is
/// listening" in one place. Status 0, as `head` got what it asked for (ripgrep does the same).
/// Every other panic keeps the default report.
pub fn exit_quietly_on_closed_pipe() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if is_closed_pipe(message) {
            std::process::exit(0);
        }
        default_hook(info);
    }));
}

/// The panic message of `print!`/`eprint!` on a pipe whose reader has gone.
fn is_closed_pipe(message: &str) -> bool {
    message.starts_with("failed printing to std") && message.contains("Broken pipe")
}

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// A progress line on stderr for something we wait for.
#[derive(Debug)]
pub struct Spinner {
    message: String,
    started: Instant,
    frame: usize,
    tty: bool,
}

impl Spinner {
    /// Starts waiting; without a terminal, prints the message once.
    pub fn start(message: impl Into<String>) -> Self {
        let message = message.into();
        let tty = std::io::stderr().is_terminal();
        if !tty {
            eprintln!("{message} …");
        }
        Self {
            message,
            started: Instant::now(),
            frame: 0,
            tty,
        }
    }

    /// Redraws the line (call it from the polling loop); `detail` says what is still missing.
    pub fn tick(&mut self, detail: &str) {
        if !self.tty {
            return;
        }
        self.frame = (self.frame + 1) % FRAMES.len();
        let secs = self.started.elapsed().as_secs();
        eprint!(
            "\r\x1b[2K{} {} ({secs}s) {detail}",
            FRAMES[self.frame], self.message
        );
        let _ = std::io::stderr().flush();
    }

    /// Clears the line; the caller prints the outcome.
    pub fn finish(self) {
        if self.tty {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
        }
    }
}

/// A countdown on stdout while nothing visible happens (a crash demo waiting for the lease
/// to expire): on a terminal `message: 5…4…3…` grows on one line, a second at a time;
/// elsewhere the message is printed once, as a plain line. Dropping it ends the line.
#[derive(Debug)]
pub struct Countdown {
    left: u64,
    tty: bool,
}

impl Countdown {
    /// Prints `message` and starts counting down from `secs`.
    pub fn start(message: &str, secs: u64) -> Self {
        let tty = std::io::stdout().is_terminal();
        if tty {
            print!("{message}: {secs}…");
            let _ = std::io::stdout().flush();
        } else {
            println!("{message}");
        }
        Self { left: secs, tty }
    }

    /// One second passed: the next number, then a dot a second once it is due.
    pub fn tick(&mut self) {
        if !self.tty {
            return;
        }
        self.left = self.left.saturating_sub(1);
        match self.left {
            0 => print!("."),
            left => print!("{left}…"),
        }
        let _ = std::io::stdout().flush();
    }
}

impl Drop for Countdown {
    fn drop(&mut self) {
        if self.tty {
            println!();
        }
    }
}

/// `850ms`, `12s`, `5m`, `3h`, `2d`.
pub fn age(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{}s", ms / 1_000),
        60_000..3_600_000 => format!("{}m", ms / 60_000),
        3_600_000..86_400_000 => format!("{}h", ms / 3_600_000),
        _ => format!("{}d", ms / 86_400_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_style_adds_no_escape_codes() {
        let style = Style::plain();
        assert_eq!(style.ok("done"), "done");
        assert_eq!(style.err("x"), "x");
    }

    #[test]
    fn only_the_print_panic_of_a_closed_pipe_is_quiet() {
        assert!(is_closed_pipe(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(is_closed_pipe(
            "failed printing to stderr: Broken pipe (os error 32)"
        ));
        assert!(!is_closed_pipe("failed printing to stdout: No space left"));
        assert!(!is_closed_pipe("index out of bounds"));
    }

    #[test]
    fn colour_wraps_and_resets() {
        let style = Style { color: true };
        assert_eq!(style.ok("done"), "\x1b[32mdone\x1b[0m");
    }

    #[test]
    fn ages_read_in_the_largest_whole_unit() {
        let ages: Vec<String> = [
            0, 999, 1_000, 59_999, 60_000, 3_599_999, 3_600_000, 90_000_000,
        ]
        .map(age)
        .into();
        assert_eq!(ages, ["0ms", "999ms", "1s", "59s", "1m", "59m", "1h", "1d"]);
    }
}
