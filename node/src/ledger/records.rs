//! Fixed binary layouts of the values stored under the keys of
//! [`keys`](super::keys). Decoders never panic: a short or malformed record
//! is [`LedgerError::Corrupt`].

use weft_types::{Digest, TxId, ValidationCode, Version};

use super::error::LedgerError;

/// Length of an encoded [`Version`]: block u64 BE, tx u32 BE.
pub(crate) const VERSION_LEN: usize = 12;

/// `block u64 BE || tx u32 BE`.
pub(crate) fn encode_version(out: &mut Vec<u8>, version: Version) {
    out.extend_from_slice(&version.block.to_be_bytes());
    out.extend_from_slice(&version.tx.to_be_bytes());
}

pub(crate) fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

fn digest_at(bytes: &[u8], at: usize) -> Option<Digest> {
    let b: [u8; 32] = bytes.get(at..at + 32)?.try_into().ok()?;
    Some(Digest(b))
}

fn decode_version(bytes: &[u8], what: &'static str) -> Result<Version, LedgerError> {
    match (u64_at(bytes, 0), u32_at(bytes, 8)) {
        (Some(block), Some(tx)) => Ok(Version { block, tx }),
        _ => Err(LedgerError::corrupt(what, "shorter than a version")),
    }
}

/// A state value (or private value): version, then the value bytes.
pub(crate) fn encode_versioned(version: Version, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(VERSION_LEN + value.len());
    encode_version(&mut out, version);
    out.extend_from_slice(value);
    out
}

/// Decodes [`encode_versioned`].
pub(crate) fn decode_versioned<'a>(
    bytes: &'a [u8],
    what: &'static str,
) -> Result<(Version, &'a [u8]), LedgerError> {
    let version = decode_version(bytes, what)?;
    Ok((version, &bytes[VERSION_LEN..]))
}

/// Where a transaction is: block u64 BE, index u32 BE, code u8.
pub(crate) fn encode_tx_location(block: u64, index: u32, code: ValidationCode) -> [u8; 13] {
    let mut out = [0u8; 13];
    out[..8].copy_from_slice(&block.to_be_bytes());
    out[8..12].copy_from_slice(&index.to_be_bytes());
    out[12] = code.as_u8();
    out
}

/// Decodes [`encode_tx_location`].
pub(crate) fn decode_tx_location(bytes: &[u8]) -> Result<(u64, u32, ValidationCode), LedgerError> {
    let version = decode_version(bytes, "tx index")?;
    let code = match bytes {
        [_, _, _, _, _, _, _, _, _, _, _, _, code] => ValidationCode::from_u8(*code),
        _ => None,
    }
    .ok_or_else(|| LedgerError::corrupt("tx index", "bad length or unknown validation code"))?;
    Ok((version.block, version.tx, code))
}

/// One change of a key: tx id (32), timestamp_ms u64 BE, tag u8 (0 delete,
/// 1 put), then the value for a put.
pub(crate) fn encode_history(tx_id: &TxId, timestamp_ms: u64, value: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(41 + value.map_or(0, <[u8]>::len));
    out.extend_from_slice(tx_id.0.as_bytes());
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(v);
        }
    }
    out
}

/// Decodes [`encode_history`].
pub(crate) fn decode_history(bytes: &[u8]) -> Result<(TxId, u64, Option<Vec<u8>>), LedgerError> {
    let bad = || LedgerError::corrupt("history", "shorter than its fixed part or bad tag");
    let tx_id = TxId(digest_at(bytes, 0).ok_or_else(bad)?);
    let timestamp_ms = u64_at(bytes, 32).ok_or_else(bad)?;
    let value = match bytes.get(40) {
        Some(0) if bytes.len() == 41 => None,
        Some(1) => Some(bytes[41..].to_vec()),
        _ => return Err(bad()),
    };
    Ok((tx_id, timestamp_ms, value))
}

/// The savepoint: what is applied and what the next block must chain to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Savepoint {
    /// Blocks applied: the number of the next block.
    pub(crate) height: u64,
    /// The commit hash after the last applied block (zero before genesis).
    pub(crate) commit_hash: Digest,
    /// The header hash of the last applied block (zero before genesis).
    pub(crate) last_block_hash: Digest,
    /// The length of the block file up to the last applied block.
    pub(crate) block_file_end: u64,
}

impl Savepoint {
    /// height u64 BE, commit hash, last block hash, block file end u64 BE.
    pub(crate) fn encode(&self) -> [u8; 80] {
        let mut out = [0u8; 80];
        out[..8].copy_from_slice(&self.height.to_be_bytes());
        out[8..40].copy_from_slice(self.commit_hash.as_bytes());
        out[40..72].copy_from_slice(self.last_block_hash.as_bytes());
        out[72..].copy_from_slice(&self.block_file_end.to_be_bytes());
        out
    }

    /// Decodes [`Savepoint::encode`].
    pub(crate) fn decode(bytes: &[u8]) -> Result<Savepoint, LedgerError> {
        let bad = || LedgerError::corrupt("savepoint", "not 80 bytes");
        if bytes.len() != 80 {
            return Err(bad());
        }
        Ok(Savepoint {
            height: u64_at(bytes, 0).ok_or_else(bad)?,
            commit_hash: digest_at(bytes, 8).ok_or_else(bad)?,
            last_block_hash: digest_at(bytes, 40).ok_or_else(bad)?,
            block_file_end: u64_at(bytes, 72).ok_or_else(bad)?,
        })
    }
}

/// A stored 32-byte digest (commit-hash chain, private hashes).
pub(crate) fn decode_digest(bytes: &[u8], what: &'static str) -> Result<Digest, LedgerError> {
    match digest_at(bytes, 0) {
        Some(d) if bytes.len() == 32 => Ok(d),
        _ => Err(LedgerError::corrupt(what, "not 32 bytes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let v = Version { block: 7, tx: 3 };
        let enc = encode_versioned(v, b"val");
        assert_eq!(decode_versioned(&enc, "state").unwrap(), (v, &b"val"[..]));

        let loc = encode_tx_location(9, 4, ValidationCode::MvccReadConflict);
        assert_eq!(
            decode_tx_location(&loc).unwrap(),
            (9, 4, ValidationCode::MvccReadConflict)
        );

        let id = TxId(Digest([5; 32]));
        for value in [None, Some(&b""[..]), Some(&b"x"[..])] {
            let enc = encode_history(&id, 42, value);
            assert_eq!(
                decode_history(&enc).unwrap(),
                (id, 42, value.map(<[u8]>::to_vec))
            );
        }

        let sp = Savepoint {
            height: 3,
            commit_hash: Digest([1; 32]),
            last_block_hash: Digest([2; 32]),
            block_file_end: 4096,
        };
        assert_eq!(Savepoint::decode(&sp.encode()).unwrap(), sp);
    }

    #[test]
    fn short_or_malformed_records_are_corrupt_not_panics() {
        assert!(decode_versioned(&[0; 11], "state").is_err());
        assert!(decode_tx_location(&[0; 12]).is_err());
        assert!(decode_tx_location(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 77]).is_err());
        assert!(decode_history(&[0; 40]).is_err());
        assert!(decode_history(&[[0; 40].as_slice(), &[0, 1]].concat()).is_err());
        assert!(decode_history(&[[0; 40].as_slice(), &[2]].concat()).is_err());
        assert!(Savepoint::decode(&[0; 79]).is_err());
        assert!(decode_digest(&[0; 33], "chain").is_err());
    }
}
