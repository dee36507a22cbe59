//! JSON rendering the way Go's `encoding/json` writes it.
//!
//! Clients that parse JSON cannot tell the difference, but the raw bytes can
//! (log scrapers, signature checks, byte-comparing tests), so responses and
//! stream items are written with Go's escaping: `<`, `>`, `&`, U+2028 and
//! U+2029 as `\u003c`, `\u003e`, `\u0026`, `\u2028`, `\u2029`, and control
//! characters other than `\n`, `\r`, `\t` as `\u00XX`. Member order is the
//! field order of the serialized struct.

use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};

/// A `serde_json` formatter that escapes strings like Go's encoder.
#[derive(Debug, Clone, Copy, Default)]
struct GoFormatter;

impl Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escaped = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escaped.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        let byte = match char_escape {
            CharEscape::Quote => return writer.write_all(b"\\\""),
            CharEscape::ReverseSolidus => return writer.write_all(b"\\\\"),
            CharEscape::Solidus => return writer.write_all(b"/"),
            CharEscape::LineFeed => return writer.write_all(b"\\n"),
            CharEscape::CarriageReturn => return writer.write_all(b"\\r"),
            CharEscape::Tab => return writer.write_all(b"\\t"),
            CharEscape::Backspace => 0x08,
            CharEscape::FormFeed => 0x0c,
            CharEscape::AsciiControl(b) => b,
        };
        write!(writer, "\\u{byte:04x}")
    }
}

/// Serializes `value` with Go's escaping, without a trailing newline.
pub fn to_go_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    // Serializing plain structs, strings and integers into a Vec cannot fail;
    // should a future type make it fail, an empty object is still valid JSON.
    if value.serialize(&mut ser).is_err() {
        out.clear();
        out.extend_from_slice(b"{}");
    }
    out
}

/// Serializes `value` as a response body: Go-escaped JSON followed by `\n`.
pub fn body_line<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = to_go_json(value);
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        let s = "a&b<c>\"q\" \u{2028}\u{8}\n";
        let out = String::from_utf8(to_go_json(&s)).unwrap_or_default();
        assert_eq!(out, r#""a\u0026b\u003cc\u003e\"q\" \u2028\u0008\n""#);
    }
}
