//! NDJSON: one JSON value per line, as the orderers' deliver stream, the
//! broadcast batches, the peer-to-peer endorsement batches and the
//! gateway's `POST /v1/batch` carry them.

/// The non-blank lines of a whole body, each without surrounding
/// whitespace.
pub fn lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty())
}

/// `json` as one NDJSON line. JSON has a newline byte only as whitespace
/// (in strings it is escaped), so a value that parses keeps its meaning
/// with each one made a space. Shares `json`'s bytes when it has none.
pub fn one_line(json: &bytes::Bytes) -> bytes::Bytes {
    if !json.contains(&b'\n') {
        return json.clone();
    }
    let flat: Vec<u8> = json
        .iter()
        .map(|&b| if b == b'\n' { b' ' } else { b })
        .collect();
    bytes::Bytes::from(flat)
}

/// A line longer than the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a line of more than {max_bytes} bytes")]
pub struct LineTooLong {
    max_bytes: usize,
}

/// Splits a byte stream into lines, refusing any longer than a limit. Blank
/// lines are skipped.
#[derive(Debug)]
pub struct LineBuffer {
    buffer: Vec<u8>,
    /// Bytes at the start of `buffer` known to hold no newline.
    scanned: usize,
    max_bytes: usize,
}

impl LineBuffer {
    /// An empty buffer refusing lines longer than `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        LineBuffer {
            buffer: Vec::new(),
            scanned: 0,
            max_bytes,
        }
    }

    /// Appends received bytes. The caller takes the complete lines with
    /// [`LineBuffer::next_line`] before pushing more, which bounds the
    /// buffer to the limit plus one chunk.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete, non-blank line without its terminator; `None`
    /// until one is complete.
    pub fn next_line(&mut self) -> Result<Option<Vec<u8>>, LineTooLong> {
        loop {
            let Some(offset) = self.buffer[self.scanned..].iter().position(|&b| b == b'\n') else {
                self.scanned = self.buffer.len();
                if self.buffer.len() > self.max_bytes {
                    return Err(LineTooLong {
                        max_bytes: self.max_bytes,
                    });
                }
                return Ok(None);
            };
            let end = self.scanned + offset;
            if end > self.max_bytes {
                return Err(LineTooLong {
                    max_bytes: self.max_bytes,
                });
            }
            let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
            self.scanned = 0;
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if !line.trim_ascii().is_empty() {
                return Ok(Some(line));
            }
        }
    }

    /// What is left once the stream ended: a last line without its
    /// newline, unless blank.
    pub fn rest(self) -> Option<Vec<u8>> {
        let mut line = self.buffer;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        (!line.trim_ascii().is_empty()).then_some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_across_chunks_and_blank_ones_skipped() {
        let text = b"one\n\ntwo\r\n  \nthree\nfour";
        for cut in 0..=text.len() {
            let mut buffer = LineBuffer::new(100);
            let mut lines = Vec::new();
            for part in [&text[..cut], &text[cut..]] {
                buffer.push(part);
                while let Some(line) = buffer.next_line().unwrap() {
                    lines.push(String::from_utf8(line).unwrap());
                }
            }
            assert_eq!(lines, ["one", "two", "three"], "cut at {cut}");
        }
    }

    #[test]
    fn a_line_over_the_limit_is_refused_complete_or_not() {
        let mut buffer = LineBuffer::new(8);
        buffer.push(b"12345678\n");
        assert_eq!(buffer.next_line().unwrap().unwrap(), b"12345678");
        buffer.push(b"123456789\nok\n");
        assert_eq!(buffer.next_line(), Err(LineTooLong { max_bytes: 8 }));
        // Without a newline: refused once past the limit, not buffered on.
        let mut buffer = LineBuffer::new(8);
        buffer.push(b"12345678");
        assert_eq!(buffer.next_line(), Ok(None));
        buffer.push(b"9");
        assert_eq!(buffer.next_line(), Err(LineTooLong { max_bytes: 8 }));
    }

    #[test]
    fn what_is_left_after_the_stream_is_its_last_line_unless_blank() {
        let mut buffer = LineBuffer::new(100);
        buffer.push(b"one\ntwo\r");
        assert_eq!(buffer.next_line().unwrap().unwrap(), b"one");
        assert_eq!(buffer.next_line(), Ok(None));
        assert_eq!(buffer.rest().unwrap(), b"two");
        let mut blank = LineBuffer::new(100);
        blank.push(b"x\n \r");
        blank.next_line().unwrap();
        assert_eq!(blank.rest(), None);
        let body = b" a \n\n\tb\n  ";
        assert_eq!(lines(body).collect::<Vec<_>>(), [&b"a"[..], &b"b"[..]]);
    }

    #[test]
    fn a_value_over_several_lines_becomes_one_with_the_same_meaning() {
        let pretty = bytes::Bytes::from_static(b"{\n  \"a\": \"x\\ny\",\n  \"b\": [1,\n2]\n}\n");
        let line = one_line(&pretty);
        assert!(!line.contains(&b'\n'));
        let parse = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap();
        assert_eq!(parse(&line), parse(&pretty));
        let flat = bytes::Bytes::from_static(b"{\"a\":1}");
        assert_eq!(one_line(&flat), flat);
    }
}
