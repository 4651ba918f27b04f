//! Reads over the ledger's tree. Callers hold the ledger's read lock (a
//! [`Snapshot`](super::Snapshot)), so everything read comes from one height.

use weft_abi::HistoryEntry;
use weft_types::{Block, Digest, TxId, ValidationCode, Version};

use super::blockfile::BlockFile;
use super::error::LedgerError;
use super::keys;
use super::records;
use super::tx_filter::TxFilter;

/// The value and version of `(ns, key)`.
pub(crate) fn get(
    tree: &sled::Tree,
    ns: &str,
    key: &str,
) -> Result<Option<(Vec<u8>, Version)>, LedgerError> {
    let Some(raw) = tree.get(keys::ns_key(keys::STATE, ns, key))? else {
        return Ok(None);
    };
    let (version, value) = records::decode_versioned(&raw, "state")?;
    Ok(Some((value.to_vec(), version)))
}

/// The version of `(ns, key)`, without copying its value.
pub(crate) fn version(
    tree: &sled::Tree,
    ns: &str,
    key: &str,
) -> Result<Option<Version>, LedgerError> {
    let Some(raw) = tree.get(keys::ns_key(keys::STATE, ns, key))? else {
        return Ok(None);
    };
    let (version, _) = records::decode_versioned(&raw, "state")?;
    Ok(Some(version))
}

/// Up to `limit` entries of `ns` with `start <= key < end` (`end` empty:
/// to the namespace's end), in key order.
pub(crate) fn range(
    tree: &sled::Tree,
    ns: &str,
    start: &str,
    end: &str,
    limit: usize,
) -> Result<Vec<(String, Vec<u8>, Version)>, LedgerError> {
    if limit == 0 || (!end.is_empty() && end <= start) {
        return Ok(Vec::new());
    }
    let prefix = keys::ns_prefix(keys::STATE, ns);
    let lo = keys::ns_key(keys::STATE, ns, start);
    let iter = if end.is_empty() {
        tree.range(lo..)
    } else {
        tree.range(lo..keys::ns_key(keys::STATE, ns, end))
    };
    let mut out = Vec::new();
    for item in iter {
        let (k, v) = item?;
        let Some(key) = k.strip_prefix(prefix.as_slice()) else {
            break; // past the namespace (only when `end` is empty)
        };
        let key = String::from_utf8(key.to_vec())
            .map_err(|_| LedgerError::corrupt("state", "key is not UTF-8"))?;
        let (version, value) = records::decode_versioned(&v, "state")?;
        out.push((key, value.to_vec(), version));
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}

/// Every key of `ns` in `[start, end)` with its version (`end` empty:
/// unbounded), in key order.
pub(crate) fn range_versions(
    tree: &sled::Tree,
    ns: &str,
    start: &str,
    end: &str,
) -> Result<Vec<(String, Version)>, LedgerError> {
    Ok(range(tree, ns, start, end, usize::MAX)?
        .into_iter()
        .map(|(k, _, v)| (k, v))
        .collect())
}

/// The key-level policy of `(ns, key)`, parsed.
pub(crate) fn key_policy_parsed(
    tree: &sled::Tree,
    ns: &str,
    key: &str,
) -> Result<Option<weft_types::Policy>, LedgerError> {
    match key_policy(tree, ns, key)? {
        Some(text) => weft_types::Policy::parse(&text)
            .map(Some)
            .map_err(|e| LedgerError::corrupt("key-level policy", e.to_string())),
        None => Ok(None),
    }
}

/// The committed definition of `chaincode` (state of `_lifecycle`).
pub(crate) fn definition(
    tree: &sled::Tree,
    chaincode: &str,
) -> Result<Option<weft_types::ChaincodeDefinition>, LedgerError> {
    match get(tree, super::LIFECYCLE_NAMESPACE, chaincode)? {
        Some((json, _)) => serde_json::from_slice(&json)
            .map(Some)
            .map_err(|e| LedgerError::corrupt("chaincode definition", e.to_string())),
        None => Ok(None),
    }
}

/// Every change of `(ns, key)`, oldest first.
pub(crate) fn history(
    tree: &sled::Tree,
    ns: &str,
    key: &str,
) -> Result<Vec<HistoryEntry>, LedgerError> {
    let prefix = keys::history_prefix(ns, key);
    let mut out = Vec::new();
    for item in tree.scan_prefix(&prefix) {
        let (k, v) = item?;
        let version = records::decode_versioned(&k[prefix.len()..], "history key")?.0;
        let (tx_id, timestamp_ms, value) = records::decode_history(&v)?;
        out.push(HistoryEntry {
            tx_id: tx_id.to_string(),
            block: version.block,
            tx: version.tx,
            timestamp_ms,
            value,
        });
    }
    Ok(out)
}

/// The key-level endorsement policy of `(ns, key)`.
pub(crate) fn key_policy(
    tree: &sled::Tree,
    ns: &str,
    key: &str,
) -> Result<Option<String>, LedgerError> {
    let Some(raw) = tree.get(keys::ns_key(keys::KEY_POLICY, ns, key))? else {
        return Ok(None);
    };
    String::from_utf8(raw.to_vec())
        .map(Some)
        .map_err(|_| LedgerError::corrupt("key policy", "not UTF-8"))
}

/// Where a transaction is recorded: block, index and validation code.
/// `txs` answers for most ids never recorded without a tree lookup.
pub(crate) fn tx(
    tree: &sled::Tree,
    txs: &TxFilter,
    tx_id: &TxId,
) -> Result<Option<(u64, u32, ValidationCode)>, LedgerError> {
    if !txs.may_contain(tx_id) {
        return Ok(None);
    }
    tree.get(keys::tx(tx_id))?
        .map(|raw| records::decode_tx_location(&raw))
        .transpose()
}

/// The filter of every id in the transaction index, built by scanning it.
pub(crate) fn tx_filter(tree: &sled::Tree) -> Result<TxFilter, LedgerError> {
    let filter = TxFilter::new();
    // In chunks: one lock per chunk, and never the whole index in memory.
    let mut ids = Vec::with_capacity(4096);
    for key in tree.scan_prefix([keys::TX]).keys() {
        let key = key?;
        let id = <[u8; 32]>::try_from(&key[1..])
            .map_err(|_| LedgerError::corrupt("transaction index", "a key is not 33 bytes"))?;
        ids.push(TxId(Digest(id)));
        if ids.len() == ids.capacity() {
            filter.insert_all(ids.drain(..));
        }
    }
    filter.insert_all(ids);
    Ok(filter)
}

/// Block `number` as stored (with its flags and commit hash).
pub(crate) fn block(
    tree: &sled::Tree,
    blocks: &BlockFile,
    number: u64,
) -> Result<Option<Block>, LedgerError> {
    let Some(raw) = tree.get(keys::by_block(keys::BLOCK, number))? else {
        return Ok(None);
    };
    let offset = records::u64_at(&raw, 0)
        .filter(|_| raw.len() == 8)
        .ok_or_else(|| LedgerError::corrupt("block index", "not 8 bytes"))?;
    serde_json::from_slice(&blocks.read(offset)?)
        .map(Some)
        .map_err(|e| LedgerError::corrupt("block", e.to_string()))
}

/// The commit hash after block `number`.
pub(crate) fn commit_hash_at(
    tree: &sled::Tree,
    number: u64,
) -> Result<Option<Digest>, LedgerError> {
    tree.get(keys::by_block(keys::COMMIT_HASH, number))?
        .map(|raw| records::decode_digest(&raw, "commit hash"))
        .transpose()
}
