//! The binary encoding of everything that crosses the host↔guest boundary:
//! little-endian fixed-size integers, and byte strings as a `u32` length
//! followed by the bytes. Decoding borrows from the input and never allocates
//! more than the input holds, so a hostile length cannot exhaust memory.

use alloc::vec::Vec;
use core::fmt;

/// Input that does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError {
    /// What was being read.
    pub what: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed ABI data: cannot read {}", self.what)
    }
}

impl core::error::Error for DecodeError {}

/// Builds an encoded message.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// Appends a `u32`, little-endian.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends a `u64`, little-endian.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends a length-prefixed byte string.
    ///
    /// # Panics
    /// If `v` is 4 GiB or longer, which cannot cross a 32-bit Wasm boundary.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        let len = u32::try_from(v.len()).expect("a byte string crossing the ABI is under 4 GiB");
        self.u32(len);
        self.buf.extend_from_slice(v);
        self
    }

    /// Appends a length-prefixed UTF-8 string.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }

    /// Appends an optional byte string: a presence byte, then the bytes.
    pub fn opt_bytes(&mut self, v: Option<&[u8]>) -> &mut Self {
        match v {
            Some(b) => self.u8(1).bytes(b),
            None => self.u8(0),
        }
    }

    /// The encoded bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads an encoded message.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads `input` from its start.
    pub fn new(input: &'a [u8]) -> Self {
        Reader { rest: input }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError { what });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    /// Reads a little-endian `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4, what)?);
        Ok(u32::from_le_bytes(b))
    }

    /// Reads a little-endian `u64`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_le_bytes(b))
    }

    /// Reads a length-prefixed byte string.
    pub fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }

    /// Reads a length-prefixed UTF-8 string.
    pub fn str(&mut self, what: &'static str) -> Result<&'a str, DecodeError> {
        core::str::from_utf8(self.bytes(what)?).map_err(|_| DecodeError { what })
    }

    /// Reads an optional byte string.
    pub fn opt_bytes(&mut self, what: &'static str) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.u8(what)? {
            0 => Ok(None),
            1 => self.bytes(what).map(Some),
            _ => Err(DecodeError { what }),
        }
    }

    /// Reads a `u32` count that prefixes a list, refusing counts that could
    /// not fit in what is left (each item takes at least `min_item_bytes`).
    pub fn count(
        &mut self,
        what: &'static str,
        min_item_bytes: usize,
    ) -> Result<usize, DecodeError> {
        let n = self.u32(what)? as usize;
        if n.saturating_mul(min_item_bytes.max(1)) > self.rest.len() {
            return Err(DecodeError { what });
        }
        Ok(n)
    }

    /// Checks that nothing is left over.
    pub fn finish(self, what: &'static str) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError { what })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut w = Writer::new();
        w.u8(7)
            .u32(70_000)
            .u64(u64::MAX)
            .str("key")
            .opt_bytes(None)
            .opt_bytes(Some(b"v"));
        let buf = w.finish();
        let mut r = Reader::new(&buf);
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.u32("b").unwrap(), 70_000);
        assert_eq!(r.u64("c").unwrap(), u64::MAX);
        assert_eq!(r.str("d").unwrap(), "key");
        assert_eq!(r.opt_bytes("e").unwrap(), None);
        assert_eq!(r.opt_bytes("f").unwrap(), Some(&b"v"[..]));
        r.finish("end").unwrap();
    }

    #[test]
    fn hostile_lengths_and_truncation_are_errors() {
        // A length of 4 GiB with 2 bytes behind it.
        let buf = [0xff, 0xff, 0xff, 0xff, 1, 2];
        assert!(Reader::new(&buf).bytes("x").is_err());
        assert!(Reader::new(&buf).count("list", 1).is_err());
        assert!(Reader::new(&[1, 0]).u32("short").is_err());
        assert!(Reader::new(&[2]).opt_bytes("flag").is_err());
        let mut w = Writer::new();
        w.bytes(&[0xff, 0xfe]);
        assert!(Reader::new(&w.finish()).str("utf8").is_err());
        assert!(Reader::new(&[0]).finish("trailing").is_err());
    }
}
