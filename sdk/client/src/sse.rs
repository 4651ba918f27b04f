//! A `text/event-stream` parser: bytes in, events out, no I/O. Chunks may
//! split events, lines, `\r\n` pairs and UTF-8 characters anywhere.

use std::collections::VecDeque;

/// The largest event (its field lines together) accepted, in bytes. The
/// gateway's events are one block's summary or one chaincode event, well
/// under the 16 MiB request limit.
pub(crate) const MAX_EVENT_BYTES: usize = 32 * 1024 * 1024;

/// One dispatched server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// `event:` (default `message`).
    pub(crate) event: String,
    /// `data:` lines joined by `\n`.
    pub(crate) data: String,
    /// The last `id:` seen, if any.
    pub(crate) id: Option<String>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The stream sent an event larger than [`MAX_EVENT_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TooLarge;

/// Incremental parser state.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// Bytes of the line being received.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to it.
    after_cr: bool,
    /// The stream's first bytes have been seen (a BOM is skipped there).
    started: bool,
    /// First bytes held until they are known not to be a split BOM.
    head: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
    /// Bytes held for the current event, bounded by [`MAX_EVENT_BYTES`].
    size: usize,
    last_id: Option<String>,
    ready: VecDeque<SseEvent>,
}

impl SseParser {
    pub(crate) fn new() -> SseParser {
        SseParser::default()
    }

    /// Feeds bytes; complete events are then available from [`SseParser::next_event`].
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<(), TooLarge> {
        if self.started {
            return self.push_lines(bytes);
        }
        // A byte order mark may open the stream, itself split across chunks.
        self.head.extend_from_slice(bytes);
        if self.head.len() < BOM.len() && BOM.starts_with(&self.head) {
            return Ok(());
        }
        self.started = true;
        let head = std::mem::take(&mut self.head);
        self.push_lines(head.strip_prefix(BOM).unwrap_or(&head))
    }

    fn push_lines(&mut self, mut bytes: &[u8]) -> Result<(), TooLarge> {
        if self.after_cr {
            self.after_cr = false;
            bytes = bytes.strip_prefix(b"\n").unwrap_or(bytes);
        }
        while let Some(end) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.extend_line(&bytes[..end])?;
            if bytes[end] == b'\r' {
                match bytes.get(end + 1) {
                    Some(b'\n') => bytes = &bytes[end + 2..],
                    Some(_) => bytes = &bytes[end + 1..],
                    None => {
                        self.after_cr = true;
                        bytes = &[];
                    }
                }
            } else {
                bytes = &bytes[end + 1..];
            }
            let line = std::mem::take(&mut self.line);
            self.line_done(&line);
        }
        self.extend_line(bytes)
    }

    /// The next complete event, in order.
    pub(crate) fn next_event(&mut self) -> Option<SseEvent> {
        self.ready.pop_front()
    }

    fn extend_line(&mut self, part: &[u8]) -> Result<(), TooLarge> {
        self.size += part.len();
        if self.size > MAX_EVENT_BYTES {
            return Err(TooLarge);
        }
        self.line.extend_from_slice(part);
        Ok(())
    }

    fn line_done(&mut self, line: &[u8]) {
        if line.is_empty() {
            self.dispatch();
            return;
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "" => {} // a comment (keep-alive)
            "event" => self.event = Some(value.to_string()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "id" if !value.contains('\0') => self.last_id = Some(value.to_string()),
            _ => {} // `retry` and unknown fields are ignored
        }
    }

    fn dispatch(&mut self) {
        let event = self.event.take();
        let data = self.data.take();
        self.size = 0;
        // Per the SSE rules an event without data is not dispatched.
        if let Some(data) = data {
            self.ready.push_back(SseEvent {
                event: event.unwrap_or_else(|| "message".to_string()),
                data,
                id: self.last_id.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
            id: id.map(Into::into),
        }
    }

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c).unwrap();
            while let Some(e) = p.next_event() {
                out.push(e);
            }
        }
        out
    }

    const STREAM: &str = "\u{feff}: keep-alive\n\nevent: block\nid: 7\ndata: {\"number\":7,\r\ndata:\"x\":\"\u{e9}\"}\r\n\r\nretry: 10\rdata: second\r\rdata\nevent: block\nid: 9\ndata:\n\n";

    fn expected() -> Vec<SseEvent> {
        vec![
            ev("block", "{\"number\":7,\n\"x\":\"\u{e9}\"}", Some("7")),
            ev("message", "second", Some("7")),
            ev("block", "\n", Some("9")),
        ]
    }

    #[test]
    fn parses_fields_line_endings_and_comments() {
        assert_eq!(parse_chunks(&[STREAM.as_bytes()]), expected());
    }

    #[test]
    fn events_split_across_chunks_at_every_byte() {
        let bytes = STREAM.as_bytes();
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(parse_chunks(&[a, b]), expected(), "cut at {cut}");
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse_chunks(&singles), expected(), "one byte at a time");
    }

    #[test]
    fn a_split_byte_order_mark_is_skipped() {
        let bytes = "\u{feff}event: block\ndata: 1\n\n".as_bytes();
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(
                parse_chunks(&[a, b]),
                [ev("block", "1", None)],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn an_unterminated_event_is_not_dispatched() {
        assert!(parse_chunks(&[b"event: block\ndata: {}\n"]).is_empty());
        assert!(parse_chunks(&[b"event: block\n\n"]).is_empty(), "no data");
    }

    #[test]
    fn oversized_events_are_refused() {
        let mut p = SseParser::new();
        let line = vec![b'a'; 1024 * 1024];
        p.push(b"data: ").unwrap();
        let mut result = Ok(());
        for _ in 0..=MAX_EVENT_BYTES / line.len() {
            result = p.push(&line);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(TooLarge));
    }
}
