//! One record of the entry file: its [`Header`] (length, CRC, index,
//! term; the layout is in the [parent module's docs](super)), built from a
//! payload, written, parsed and checked.

use std::io::{self, Read};

use crate::sled_log::SledLogError;

/// The first bytes of the file: format name and version.
pub(super) const MAGIC: &[u8; 8] = b"WEFTRL01";
/// Offset of the first record.
pub(super) const MAGIC_BYTES: u64 = MAGIC.len() as u64;
/// Bytes of a header: length, CRC, index, term.
pub(super) const HEADER_BYTES: usize = 24;

/// A record's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    /// Length of the payload (the entry's protobuf).
    pub(super) len: u32,
    /// CRC-32 (IEEE) of the index, term and payload bytes: a torn header
    /// fails it too.
    pub(super) crc: u32,
    pub(super) index: u64,
    pub(super) term: u64,
}

impl Header {
    /// The header of entry `index` of `term` whose protobuf is `payload`.
    pub(super) fn new(index: u64, term: u64, payload: &[u8]) -> Result<Header, SledLogError> {
        let len = u32::try_from(payload.len()).map_err(|_| SledLogError::Encode {
            what: "entry",
            reason: format!(
                "{} bytes is more than a record holds (4 GiB)",
                payload.len()
            ),
        })?;
        Ok(Header {
            len,
            crc: checksum(index, term, payload),
            index,
            term,
        })
    }

    /// The header's bytes, big-endian.
    pub(super) fn to_bytes(self) -> [u8; HEADER_BYTES] {
        let mut bytes = [0u8; HEADER_BYTES];
        bytes[0..4].copy_from_slice(&self.len.to_be_bytes());
        bytes[4..8].copy_from_slice(&self.crc.to_be_bytes());
        bytes[8..16].copy_from_slice(&self.index.to_be_bytes());
        bytes[16..24].copy_from_slice(&self.term.to_be_bytes());
        bytes
    }

    /// Reads a header from its bytes (which may be garbage).
    pub(super) fn parse(bytes: &[u8; HEADER_BYTES]) -> Header {
        let u32_at = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let u64_at = |at: usize| (u64::from(u32_at(at)) << 32) | u64::from(u32_at(at + 4));
        Header {
            len: u32_at(0),
            crc: u32_at(4),
            index: u64_at(8),
            term: u64_at(16),
        }
    }

    /// True when `payload` is this record's: same length and CRC.
    pub(super) fn matches(&self, payload: &[u8]) -> bool {
        payload.len() == self.len as usize && checksum(self.index, self.term, payload) == self.crc
    }

    /// Bytes of the whole record.
    pub(super) fn record_bytes(&self) -> u64 {
        HEADER_BYTES as u64 + u64::from(self.len)
    }
}

/// Reads the next record into `payload`, as the scan on open does: its
/// header if it is whole and passes its CRC, else why not (a torn or
/// corrupt record). `remaining` is how many bytes the file holds from the
/// record on, so that a garbage length allocates nothing.
pub(super) fn read(
    reader: &mut impl Read,
    payload: &mut Vec<u8>,
    remaining: u64,
) -> io::Result<Result<Header, String>> {
    let Some(after_header) = remaining.checked_sub(HEADER_BYTES as u64) else {
        return Ok(Err(format!("only {remaining} bytes are left for a record")));
    };
    let mut bytes = [0u8; HEADER_BYTES];
    reader.read_exact(&mut bytes)?;
    let header = Header::parse(&bytes);
    if u64::from(header.len) > after_header {
        return Ok(Err(format!(
            "the record claims {} bytes but only {after_header} follow",
            header.len
        )));
    }
    payload.clear();
    reader
        .by_ref()
        .take(u64::from(header.len))
        .read_to_end(payload)?;
    if !header.matches(payload) {
        return Ok(Err(format!("entry {} fails its CRC", header.index)));
    }
    Ok(Ok(header))
}

fn checksum(index: u64, term: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&index.to_be_bytes());
    hasher.update(&term.to_be_bytes());
    hasher.update(payload);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips_and_checks_its_payload() {
        let header = Header::new(7, 3, b"payload").unwrap();
        assert_eq!(Header::parse(&header.to_bytes()), header);
        assert!(header.matches(b"payload"));
        assert!(!header.matches(b"pay1oad"));
        assert!(!header.matches(b"payload!"));
        let other_index = Header { index: 8, ..header };
        assert!(!other_index.matches(b"payload"));
    }

    #[test]
    fn reading_tells_torn_records_apart() {
        let header = Header::new(1, 1, b"abc").unwrap();
        let mut record = header.to_bytes().to_vec();
        record.extend_from_slice(b"abc");
        let mut payload = Vec::new();
        let read_all = |bytes: &[u8], payload: &mut Vec<u8>| {
            read(&mut &bytes[..], payload, bytes.len() as u64).unwrap()
        };
        assert_eq!(read_all(&record, &mut payload), Ok(header));
        assert_eq!(payload, b"abc");
        assert!(read_all(&record[..HEADER_BYTES - 1], &mut payload).is_err());
        assert!(read_all(&record[..HEADER_BYTES + 2], &mut payload).is_err());
        record[HEADER_BYTES] ^= 1;
        assert!(read_all(&record, &mut payload).is_err());
    }
}
