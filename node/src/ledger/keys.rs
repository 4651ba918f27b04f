//! The key layout of the ledger's one sled tree. Every record kind starts
//! with a one-byte prefix; variable-length parts that are followed by more
//! key bytes are length-prefixed (u32 big-endian), so no namespace, key or
//! collection can run into the next part, whatever bytes it holds (composite
//! keys start with `\0`). Numbers are big-endian, so byte order is numeric
//! order and scans come out in block/key order.
//!
//! | prefix | key                                              | value |
//! |--------|--------------------------------------------------|-------|
//! | `B`    | block u64                                        | block JSON (flags and commit hash set) |
//! | `C`    | block u64                                        | commit hash after that block (32 bytes) |
//! | `T`    | tx id (32 bytes)                                 | block u64, index u32, code u8 |
//! | `S`    | ns_len u32, ns, key                              | block u64, tx u32, value |
//! | `H`    | ns_len u32, ns, key_len u32, key, block u64, tx u32 | tx id (32), timestamp_ms u64, tag u8 (0 delete, 1 put), value |
//! | `P`    | ns_len u32, ns, key                              | key-level policy text |
//! | `V`    | ns_len u32, ns, coll_len u32, coll, key hash (32) | private value (members only): block u64, tx u32, value |
//! | `X`    | ns_len u32, ns, coll_len u32, coll, key hash (32) | private value hash (every peer): block u64, tx u32, hash (32) |
//! | `D`    | block u64, tx u32, ns_len u32, ns, coll_len u32, coll | a committed transaction's private writes (members only): JSON `CollectionData` |
//! | `O`    | block u64, tx u32, ns_len u32, ns, coll_len u32, coll | private writes a member lacks (owed): their `private_rwset_hash` (32) |
//! | `E`    | expiry block u64, ns_len u32, ns, coll_len u32, coll, key hash (32) | a private key to purge at that block (block-to-live): the block that wrote it, u64 |
//! | `R`    | tx id (32), ns_len u32, ns, coll_len u32, coll, digest (32) | transient store (received, not yet committed; by the data's `private_rwset_hash`, so a bad copy cannot replace a good one): received at height u64, JSON `CollectionData` |
//! | `Q`    | height u64, then the `R` key's rest              | transient store by the height it arrived at (for its purge): empty |
//! | `W`    | module hash (32 bytes)                           | Wasm module bytes |
//! | `M`    | `savepoint`                                      | height u64, commit hash (32), last block hash (32) |
//!
//! The state key ends with the raw key, so all of a namespace's keys share
//! one prefix and sort by key bytes — the order of Rust's `str`.

use weft_types::{Digest, TxId};

/// Blocks by number.
pub(crate) const BLOCK: u8 = b'B';
/// The commit-hash chain, by block number.
pub(crate) const COMMIT_HASH: u8 = b'C';
/// Transaction index: tx id → (block, index, code).
pub(crate) const TX: u8 = b'T';
/// World state.
pub(crate) const STATE: u8 = b'S';
/// Key history.
pub(crate) const HISTORY: u8 = b'H';
/// Key-level endorsement policies.
pub(crate) const KEY_POLICY: u8 = b'P';
/// Private state (members of the collection only).
pub(crate) const PRIVATE: u8 = b'V';
/// Private value hashes by key hash (every peer).
pub(crate) const PRIVATE_HASH: u8 = b'X';
/// Committed private writes per transaction and collection (members only).
pub(crate) const PRIVATE_DATA: u8 = b'D';
/// Private writes of committed transactions that a member lacks.
pub(crate) const PRIVATE_MISSING: u8 = b'O';
/// Private keys to purge at a block (block-to-live).
pub(crate) const PRIVATE_EXPIRY: u8 = b'E';
/// The transient store: private writes received before their transaction commits.
pub(crate) const TRANSIENT: u8 = b'R';
/// The transient store by arrival height.
pub(crate) const TRANSIENT_BY_HEIGHT: u8 = b'Q';
/// Chaincode modules by sha3-256.
pub(crate) const MODULE: u8 = b'W';
/// The savepoint record.
pub(crate) const SAVEPOINT: &[u8] = b"Msavepoint";

fn push_len_prefixed(out: &mut Vec<u8>, part: &[u8]) {
    let len = u32::try_from(part.len()).expect("namespaces, keys and collections are short");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(part);
}

/// `prefix || ns_len || ns`: what every key of a namespace starts with.
pub(crate) fn ns_prefix(prefix: u8, ns: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 4 + ns.len() + 32);
    out.push(prefix);
    push_len_prefixed(&mut out, ns.as_bytes());
    out
}

/// A block-numbered record (`B`, `C`).
pub(crate) fn by_block(prefix: u8, number: u64) -> [u8; 9] {
    let mut out = [0u8; 9];
    out[0] = prefix;
    out[1..].copy_from_slice(&number.to_be_bytes());
    out
}

/// A transaction-index key.
pub(crate) fn tx(tx_id: &TxId) -> [u8; 33] {
    let mut out = [0u8; 33];
    out[0] = TX;
    out[1..].copy_from_slice(tx_id.0.as_bytes());
    out
}

/// A module key.
pub(crate) fn module(hash: &weft_types::Digest) -> [u8; 33] {
    let mut out = [0u8; 33];
    out[0] = MODULE;
    out[1..].copy_from_slice(hash.as_bytes());
    out
}

/// A world-state key, or (with `prefix` [`KEY_POLICY`]) a key-policy key.
pub(crate) fn ns_key(prefix: u8, ns: &str, key: &str) -> Vec<u8> {
    let mut out = ns_prefix(prefix, ns);
    out.extend_from_slice(key.as_bytes());
    out
}

/// What every history record of `(ns, key)` starts with.
pub(crate) fn history_prefix(ns: &str, key: &str) -> Vec<u8> {
    let mut out = ns_prefix(HISTORY, ns);
    push_len_prefixed(&mut out, key.as_bytes());
    out
}

/// One history record's key.
pub(crate) fn history(ns: &str, key: &str, block: u64, tx: u32) -> Vec<u8> {
    let mut out = history_prefix(ns, key);
    out.extend_from_slice(&block.to_be_bytes());
    out.extend_from_slice(&tx.to_be_bytes());
    out
}

/// A private-state key (`prefix` [`PRIVATE`]) or private-hash key
/// ([`PRIVATE_HASH`]): both by the key's sha3-256, so a block-to-live purge,
/// which every peer runs from hashes, finds the value too.
pub(crate) fn private(prefix: u8, ns: &str, collection: &str, key_hash: &Digest) -> Vec<u8> {
    let mut out = ns_prefix(prefix, ns);
    push_len_prefixed(&mut out, collection.as_bytes());
    out.extend_from_slice(key_hash.as_bytes());
    out
}

/// `ns_len || ns || coll_len || coll`, appended.
fn push_collection(out: &mut Vec<u8>, ns: &str, collection: &str) {
    push_len_prefixed(out, ns.as_bytes());
    push_len_prefixed(out, collection.as_bytes());
}

/// A per-transaction private record (`D`, `O`).
pub(crate) fn private_of_tx(
    prefix: u8,
    block: u64,
    tx: u32,
    ns: &str,
    collection: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 12 + 8 + ns.len() + collection.len());
    out.push(prefix);
    out.extend_from_slice(&block.to_be_bytes());
    out.extend_from_slice(&tx.to_be_bytes());
    push_collection(&mut out, ns, collection);
    out
}

/// Decodes the block, tx, namespace and collection of a [`private_of_tx`] key.
pub(crate) fn decode_private_of_tx(key: &[u8]) -> Option<(u64, u32, String, String)> {
    let block = u64::from_be_bytes(key.get(1..9)?.try_into().ok()?);
    let tx = u32::from_be_bytes(key.get(9..13)?.try_into().ok()?);
    let (ns, rest) = take_len_prefixed(key.get(13..)?)?;
    let (collection, rest) = take_len_prefixed(rest)?;
    rest.is_empty().then_some((block, tx, ns, collection))
}

fn take_len_prefixed(bytes: &[u8]) -> Option<(String, &[u8])> {
    let len = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let part = bytes.get(4..4 + len)?;
    Some((String::from_utf8(part.to_vec()).ok()?, &bytes[4 + len..]))
}

/// A block-to-live record: purge `key_hash` of `(ns, collection)` at `expiry`.
pub(crate) fn private_expiry(
    expiry: u64,
    ns: &str,
    collection: &str,
    key_hash: &Digest,
) -> Vec<u8> {
    let mut out = by_block(PRIVATE_EXPIRY, expiry).to_vec();
    push_collection(&mut out, ns, collection);
    out.extend_from_slice(key_hash.as_bytes());
    out
}

/// Decodes the namespace, collection and key hash of a [`private_expiry`] key.
pub(crate) fn decode_private_expiry(key: &[u8]) -> Option<(String, String, Digest)> {
    let (ns, rest) = take_len_prefixed(key.get(9..)?)?;
    let (collection, rest) = take_len_prefixed(rest)?;
    let hash: [u8; 32] = rest.try_into().ok()?;
    Some((ns, collection, Digest(hash)))
}

/// What every transient record of `tx_id` starts with.
pub(crate) fn transient_prefix(tx_id: &TxId) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 32 + 40);
    out.push(TRANSIENT);
    out.extend_from_slice(tx_id.0.as_bytes());
    out
}

/// A transient record.
pub(crate) fn transient(tx_id: &TxId, ns: &str, collection: &str, digest: &Digest) -> Vec<u8> {
    let mut out = transient_prefix(tx_id);
    push_collection(&mut out, ns, collection);
    out.extend_from_slice(digest.as_bytes());
    out
}

/// The arrival-height index entry of a transient record.
pub(crate) fn transient_by_height(
    height: u64,
    tx_id: &TxId,
    ns: &str,
    collection: &str,
    digest: &Digest,
) -> Vec<u8> {
    let mut out = by_block(TRANSIENT_BY_HEIGHT, height).to_vec();
    out.extend_from_slice(tx_id.0.as_bytes());
    push_collection(&mut out, ns, collection);
    out.extend_from_slice(digest.as_bytes());
    out
}

/// The transient record a [`transient_by_height`] key indexes.
pub(crate) fn transient_of_index(index_key: &[u8]) -> Option<Vec<u8>> {
    let rest = index_key.get(9..)?;
    let mut out = Vec::with_capacity(1 + rest.len());
    out.push(TRANSIENT);
    out.extend_from_slice(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_keys_sort_by_key_within_a_namespace() {
        let keys = [
            "\0asset\0a\0",
            "\0asset\0b\0",
            "\u{1}",
            "a",
            "a\0",
            "ab",
            "b",
        ];
        let encoded: Vec<_> = keys.iter().map(|k| ns_key(STATE, "cc", k)).collect();
        let mut sorted = encoded.clone();
        sorted.sort();
        assert_eq!(encoded, sorted);
    }

    #[test]
    fn namespaces_cannot_run_into_keys() {
        // Without the length prefix, ("a", "bc") and ("ab", "c") would collide.
        assert_ne!(ns_key(STATE, "a", "bc"), ns_key(STATE, "ab", "c"));
        assert!(!ns_key(STATE, "ab", "c").starts_with(&ns_prefix(STATE, "a")));
    }

    #[test]
    fn history_of_a_key_is_not_a_prefix_of_a_longer_key() {
        assert!(!history(ns(), "ab", 0, 0).starts_with(&history_prefix(ns(), "a")));
        assert!(history(ns(), "a", 7, 1) < history(ns(), "a", 7, 2));
        assert!(history(ns(), "a", 7, 9) < history(ns(), "a", 8, 0));
    }

    fn ns() -> &'static str {
        "cc"
    }

    #[test]
    fn private_keys_separate_collections() {
        assert_ne!(
            private(PRIVATE, "cc", "a", &Digest([1; 32])),
            private(PRIVATE, "c", "ca", &Digest([1; 32]))
        );
    }
}
