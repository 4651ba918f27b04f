//! What a chaincode module exports, and the custom sections it carries.
//!
//! | export | signature | meaning |
//! |---|---|---|
//! | `memory` | memory | the guest's linear memory; its declared maximum must be within the host's limit |
//! | `weft_alloc` | `(len: i32) -> i32` | allocates `len` bytes in guest memory and returns the pointer; the host writes the invocation there |
//! | `weft_invoke` | `(ptr: i32, len: i32) -> i64` | runs the [`crate::Invocation`] at `ptr..ptr+len`; returns `(out_ptr << 32) \| out_len` of an encoded [`crate::Outcome`] in guest memory |
//!
//! A fresh instance runs each invocation, so nothing is ever freed.
//!
//! Custom sections, read at deploy without running the module:
//! - [`ABI_SECTION`]: the ABI version as 4 bytes, little-endian.
//! - [`CONTRACT_SECTION`]: the transactions the contract exports
//!   ([`encode_contract`]), so tools can list them.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::codec::{DecodeError, Reader, Writer};
use crate::types::TxKind;

/// The guest's memory.
pub const MEMORY: &str = "memory";
/// The guest's allocator entry point.
pub const ALLOC: &str = "weft_alloc";
/// The guest's invocation entry point.
pub const INVOKE: &str = "weft_invoke";
/// Custom section holding the ABI version.
pub const ABI_SECTION: &str = "weft_abi";
/// Custom section listing the contract's transactions.
pub const CONTRACT_SECTION: &str = "weft_contract";

/// Packs a guest buffer into `weft_invoke`'s return value.
pub fn pack_buffer(ptr: u32, len: u32) -> u64 {
    (u64::from(ptr) << 32) | u64::from(len)
}

/// Unpacks `weft_invoke`'s return value into `(ptr, len)`.
pub fn unpack_buffer(packed: u64) -> (u32, u32) {
    ((packed >> 32) as u32, packed as u32)
}

/// One exported transaction, as listed in [`CONTRACT_SECTION`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedTx {
    /// The name clients call.
    pub name: String,
    /// `Query` for read-only functions (`#[query]`).
    pub kind: TxKind,
}

/// Encodes the contract section: a count, then each name and a kind byte (0 tx, 1 query).
pub fn encode_contract(txs: &[ExportedTx]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u32(u32::try_from(txs.len()).expect("fewer than 4 billion transactions"));
    for t in txs {
        w.str(&t.name).u8(match t.kind {
            TxKind::Transaction => 0,
            TxKind::Query => 1,
        });
    }
    w.finish()
}

/// Decodes [`encode_contract`].
pub fn decode_contract(input: &[u8]) -> Result<Vec<ExportedTx>, DecodeError> {
    let mut r = Reader::new(input);
    let n = r.count("transaction count", 5)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.str("transaction name")?.to_string();
        let kind = match r.u8("transaction kind")? {
            0 => TxKind::Transaction,
            1 => TxKind::Query,
            _ => {
                return Err(DecodeError {
                    what: "transaction kind",
                });
            }
        };
        out.push(ExportedTx { name, kind });
    }
    r.finish("contract section")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn packing_and_contract_round_trip() {
        assert_eq!(
            unpack_buffer(pack_buffer(0xdead_beef, 17)),
            (0xdead_beef, 17)
        );
        let txs = vec![
            ExportedTx {
                name: "create".into(),
                kind: TxKind::Transaction,
            },
            ExportedTx {
                name: "read".into(),
                kind: TxKind::Query,
            },
        ];
        assert_eq!(decode_contract(&encode_contract(&txs)).unwrap(), txs);
        assert!(decode_contract(&[1, 0, 0, 0, 0]).is_err());
    }
}
