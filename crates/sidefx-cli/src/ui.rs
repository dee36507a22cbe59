//! Terminal presentation: colours only when the output is a terminal (and `NO_COLOR` is unset),
//! and a one-line spinner for waits that redraws itself on a terminal and prints once elsewhere.

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
    fn colour_wraps_and_resets() {
        let style = Style { color: true };
        assert_eq!(style.ok("done"), "\x1b[32mdone\x1b[0m");
    }
}
