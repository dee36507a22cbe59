//! Incremental NDJSON line splitting: HTTP body chunks go in, complete lines
//! come out. A line may be split across any number of chunks, and one chunk
//! may hold several lines.

use bytes::{Buf, Bytes, BytesMut};

/// Buffers body chunks and hands out complete, non-blank lines.
#[derive(Debug, Default)]
pub(crate) struct LineDecoder {
    buf: BytesMut,
    /// Bytes at the start of `buf` already searched for `\n`; keeps a long
    /// line arriving in many small chunks linear instead of quadratic.
    scanned: usize,
}

impl LineDecoder {
    /// Appends one chunk of the response body.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete line without its terminator and surrounding white
    /// space; blank lines are skipped. `None` until a full line is buffered.
    pub(crate) fn next_line(&mut self) -> Option<Bytes> {
        loop {
            let Some(pos) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') else {
                self.scanned = self.buf.len();
                return None;
            };
            let mut line = self.buf.split_to(self.scanned + pos + 1);
            self.scanned = 0;
            let line = trim_ascii(&mut line);
            if !line.is_empty() {
                return Some(line);
            }
        }
    }

    /// Drops a partial line, e.g. after the connection broke mid-item; returns
    /// how many bytes were discarded.
    pub(crate) fn reset(&mut self) -> usize {
        let dropped = self.buf.len();
        self.buf.clear();
        self.scanned = 0;
        dropped
    }
}

/// Strips leading and trailing ASCII white space (including `\r\n`).
fn trim_ascii(line: &mut BytesMut) -> Bytes {
    let start = line.iter().take_while(|b| b.is_ascii_whitespace()).count();
    line.advance(start);
    let end = line.len()
        - line
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
    line.truncate(end);
    line.split().freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(decoder: &mut LineDecoder) -> Vec<String> {
        std::iter::from_fn(|| decoder.next_line())
            .map(|line| String::from_utf8(line.to_vec()).expect("utf-8"))
            .collect()
    }

    #[test]
    fn several_lines_in_one_chunk() {
        let mut decoder = LineDecoder::default();
        decoder.push(b"{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(drain(&mut decoder), ["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn line_split_across_chunks_at_every_position() {
        let input = b"{\"offset\":1,\"value\":\"hello\"}\n{\"offset\":2}\n";
        for cut in 0..=input.len() {
            let mut decoder = LineDecoder::default();
            decoder.push(&input[..cut]);
            let mut lines = drain(&mut decoder);
            decoder.push(&input[cut..]);
            lines.extend(drain(&mut decoder));
            assert_eq!(
                lines,
                ["{\"offset\":1,\"value\":\"hello\"}", "{\"offset\":2}"],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn byte_by_byte_delivery() {
        let mut decoder = LineDecoder::default();
        let mut lines = Vec::new();
        for byte in b"{\"x\":\"\xc3\xa9\"}\r\n" {
            decoder.push(std::slice::from_ref(byte));
            lines.extend(drain(&mut decoder));
        }
        assert_eq!(lines, ["{\"x\":\"é\"}"]);
    }

    #[test]
    fn blank_lines_are_skipped_and_partial_line_waits() {
        let mut decoder = LineDecoder::default();
        decoder.push(b"\n  \r\n{\"a\":1}\n\n{\"b\"");
        assert_eq!(drain(&mut decoder), ["{\"a\":1}"]);
        assert_eq!(decoder.reset(), "{\"b\"".len());
        decoder.push(b"{\"c\":3}\n");
        assert_eq!(drain(&mut decoder), ["{\"c\":3}"]);
    }
}
