//! A minimal Server-Sent Events parser (the subset of the WHATWG rules the API uses): feed it
//! the response body chunk by chunk, get back complete events. Chunks may split lines, and
//! lines may end in `\n`, `\r\n` or `\r`.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `message` when absent.
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The `id:` field, if any.
    pub id: Option<String>,
}

/// Incremental parser state.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line not yet terminated (kept as bytes: a chunk may split a UTF-8 character).
    partial: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to that line end.
    after_cr: bool,
    event: Option<String>,
    data: Option<String>,
    id: Option<String>,
}

impl SseParser {
    /// Feeds one chunk of the body; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            let after_cr = std::mem::take(&mut self.after_cr);
            match byte {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.partial);
                    events.extend(self.line(&String::from_utf8_lossy(&line)));
                }
                _ => self.partial.push(byte),
            }
        }
        events
    }

    /// Handles one complete line; a blank line dispatches the pending event.
    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None; // comment, used as keep-alive
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "event" => self.event = Some(value.to_owned()),
            "id" => self.id = Some(value.to_owned()),
            _ => {} // "retry" and unknown fields: nothing to do for a CLI
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        let data = self.data.take()?; // no data: per the spec, nothing is dispatched
        Some(SseEvent {
            event: event.unwrap_or_else(|| "message".to_owned()),
            data,
            id: self.id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        chunks.iter().flat_map(|c| parser.push(c)).collect()
    }

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn parses_data_events() {
        let events = parse_all(&[b"data: {\"type\":\"a\"}\n\ndata: {\"type\":\"b\"}\n\n"]);
        assert_eq!(data(&events), ["{\"type\":\"a\"}", "{\"type\":\"b\"}"]);
        assert_eq!(events[0].event, "message");
    }

    #[test]
    fn survives_any_chunk_boundary() {
        let body = "event: run\nid: 7\ndata: héllo\n\n: ping\n\ndata: x\n\n".as_bytes();
        let whole = parse_all(&[body]);
        for split in 0..body.len() {
            let (a, b) = body.split_at(split);
            assert_eq!(parse_all(&[a, b]), whole, "split at {split}");
        }
        assert_eq!(
            whole[0],
            SseEvent {
                event: "run".into(),
                data: "héllo".into(),
                id: Some("7".into())
            }
        );
        assert_eq!(data(&whole), ["héllo", "x"]);
    }

    #[test]
    fn accepts_crlf_and_cr_line_ends() {
        assert_eq!(
            data(&parse_all(&[
                b"data: a\r\n\r\ndata: b\r\rdata: c\r\n",
                b"\r\n"
            ])),
            ["a", "b", "c"]
        );
        // A CRLF split between two chunks is one line end, not two.
        assert_eq!(
            data(&parse_all(&[b"data: a\r", b"\ndata: b\r\n\r\n"])),
            ["a\nb"]
        );
    }

    #[test]
    fn joins_multi_line_data_and_ignores_comments() {
        let events = parse_all(&[b": keep-alive\n\ndata: one\ndata:two\nretry: 10\n\n"]);
        assert_eq!(data(&events), ["one\ntwo"]);
    }

    #[test]
    fn an_unterminated_event_is_not_dispatched() {
        assert!(parse_all(&[b"data: half"]).is_empty());
        assert!(parse_all(&[b"data: half\n"]).is_empty());
    }
}
