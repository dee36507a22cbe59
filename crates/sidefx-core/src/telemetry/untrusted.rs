//! [`untrusted`]: how a value someone else chose goes into a log line. The text format
//! writes `%` fields verbatim, so a command whose value holds a newline could forge whole
//! log lines (and ANSI escapes could repaint a terminal), 64 KB at a time.

use std::fmt::{self, Display, Write};

/// Characters of an untrusted value that are logged; the rest is counted, not written.
pub const UNTRUSTED_MAX_CHARS: usize = 256;

/// Wraps a value from outside (a message body, a broker's reason, a client id) for logging:
/// control characters are escaped (`\n`, `\u{1b}`) and the value is cut after
/// [`UNTRUSTED_MAX_CHARS`] characters with a `…(+N bytes)` marker. Log it as a field:
/// `value = %untrusted(&msg.value)`.
pub fn untrusted(value: &str) -> Untrusted<'_> {
    Untrusted(value)
}

/// The [`Display`] of [`untrusted`].
#[derive(Debug, Clone, Copy)]
pub struct Untrusted<'a>(&'a str);

impl Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (count, (at, c)) in self.0.char_indices().enumerate() {
            if count == UNTRUSTED_MAX_CHARS {
                return write!(f, "…(+{} bytes)", self.0.len() - at);
            }
            // `escape_debug` also escapes quotes and backslashes, which keeps the escaping
            // unambiguous: a literal `\n` in the value reads `\\n`, a newline reads `\n`.
            if c.is_control() || c == '\\' || is_invisible_format(c) {
                write!(f, "{}", c.escape_debug())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// Unicode format characters that reorder or hide text (bidi overrides, zero-width
/// joiners) without being control characters: escaped too, so what is logged reads as
/// what was sent.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        let shown = untrusted("a\nINFO forged\r\x1b[31mred\t\0").to_string();
        assert_eq!(shown, r"a\nINFO forged\r\u{1b}[31mred\t\0");
        assert!(!shown.chars().any(char::is_control));
    }

    #[test]
    fn backslashes_and_invisible_format_characters_are_escaped() {
        assert_eq!(untrusted(r"a\nb").to_string(), r"a\\nb");
        assert_eq!(untrusted("x\u{202e}y").to_string(), r"x\u{202e}y");
    }

    #[test]
    fn plain_values_pass_unchanged() {
        assert_eq!(
            untrusted("order-42 \"ok\" é").to_string(),
            "order-42 \"ok\" é"
        );
        assert_eq!(untrusted("").to_string(), "");
    }

    #[test]
    fn long_values_are_cut_with_a_marker() {
        let long = "é".repeat(300);
        let shown = untrusted(&long).to_string();
        assert!(shown.starts_with(&"é".repeat(UNTRUSTED_MAX_CHARS)));
        assert!(shown.ends_with("…(+88 bytes)"), "{shown}");
        let exact = "x".repeat(UNTRUSTED_MAX_CHARS);
        assert_eq!(untrusted(&exact).to_string(), exact);
        let big = "y".repeat(64 * 1024);
        assert!(untrusted(&big).to_string().len() < 300);
    }
}
