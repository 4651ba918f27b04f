//! [`Ledger::commit`]: one block, one atomic sled batch, one flush.

use std::collections::HashMap;

use serde::Serialize;
use weft_types::{Block, BlockHeader, BlockSignature, Digest, Envelope, TxId, ValidationCode};

use super::Ledger;
use super::commit_hash::commit_hash;
use super::error::LedgerError;
use super::keys;
use super::private;
use super::reads;
use super::records::{self, Savepoint};
use super::tx_filter::TxFilter;
use super::updates::{BlockUpdates, TxUpdates};

impl Ledger {
    /// Commits `block` (its `validation_flags` set, one per envelope) with
    /// the changes of its valid transactions, and returns the new commit
    /// hash ([`commit_hash`](super::commit_hash())).
    ///
    /// The block (with its flags and commit hash) is appended to the block
    /// file and synced first; then everything else — the block's index
    /// entry, the tx index
    /// entry of every transaction (valid or not, with its code), state,
    /// history, key policies, the commit-hash chain and the savepoint — goes
    /// into one sled batch, applied atomically, then flushed once. The block
    /// must be the next one (number = [`Ledger::height`]) and chain to the
    /// last committed header; otherwise it is refused and nothing changes.
    ///
    /// Readers never see the batch half-applied: it is applied under the
    /// write lock that [`Snapshot`](super::Snapshot)s hold for reading. The
    /// flush happens after the lock is released, so snapshots may read the
    /// new state a moment before it is durable; a crash in that window loses
    /// the block, which the peer fetches and commits again with the same
    /// result. Commits are serialised. Must not be called on a thread that
    /// holds a snapshot (it would wait for itself).
    ///
    /// An error other than a refusal ([`LedgerError::Storage`],
    /// [`LedgerError::Corrupt`]) leaves the ledger unusable until reopened.
    pub fn commit(&self, block: &Block, updates: &BlockUpdates) -> Result<Digest, LedgerError> {
        let _serial = self.commit_lock.lock();
        // Only `commit` changes the savepoint, and we hold `commit_lock`.
        let current = *self.savepoint.read();
        let (batch, next, json, indexed) =
            prepare(&self.tree, &self.txs, &current, block, updates)?;
        // The block first, synced: a savepoint never points past the file.
        self.blocks.append(current.block_file_end, &json)?;
        {
            let mut savepoint = self.savepoint.write();
            // Before the batch: a reader must not miss an id it can read.
            self.txs.insert_all(indexed);
            if let Err(e) = self.tree.apply_batch(batch) {
                // Best effort: open() also drops or replays what lies past
                // the savepoint.
                let _ = self.blocks.truncate(current.block_file_end);
                return Err(e.into());
            }
            *savepoint = next;
        }
        self.db.flush()?;
        tracing::debug!(
            block = block.number(),
            txs = block.data.len(),
            commit_hash = %next.commit_hash,
            "committed block"
        );
        Ok(next.commit_hash)
    }
}

/// Checks the block against the savepoint and builds its batch, the next
/// savepoint, the JSON to append to the block file and the transaction ids
/// it indexes.
fn prepare(
    tree: &sled::Tree,
    txs: &TxFilter,
    current: &Savepoint,
    block: &Block,
    updates: &BlockUpdates,
) -> Result<(sled::Batch, Savepoint, Vec<u8>, Vec<TxId>), LedgerError> {
    let number = block.number();
    if number != current.height {
        return Err(LedgerError::OutOfOrder {
            number,
            height: current.height,
        });
    }
    if block.header.previous_hash != current.last_block_hash {
        return Err(LedgerError::BrokenChain {
            number,
            claimed: block.header.previous_hash,
            expected: current.last_block_hash,
        });
    }
    updates.check(block)?;
    let height = number.checked_add(1).ok_or_else(|| LedgerError::BadBlock {
        number,
        reason: "block number overflows".into(),
    })?;
    let flags = &block.metadata.validation_flags;
    let hash = commit_hash(&current.commit_hash, number, flags, updates);

    let mut batch = sled::Batch::default();
    // Purges first: a write of the same key later in the batch wins.
    private::purge_expired(tree, &mut batch, number)?;
    private::purge_transient(tree, &mut batch, number)?;
    for tx in &updates.txs {
        apply_tx(&mut batch, number, tx);
        if !tx.private_data.is_empty() || !tx.private_missing.is_empty() {
            private::drop_transient(tree, &mut batch, &tx.tx_id)?;
        }
    }
    let indexed = index_txs(tree, txs, &mut batch, block, updates)?;
    for module in &updates.modules {
        batch.insert(
            &keys::module(&weft_types::sha3_256(module))[..],
            module.as_slice(),
        );
    }

    let json =
        serde_json::to_vec(&StoredBlock::new(block, hash)).map_err(|e| LedgerError::BadBlock {
            number,
            reason: format!("does not serialize: {e}"),
        })?;
    batch.insert(
        &keys::by_block(keys::BLOCK, number)[..],
        &current.block_file_end.to_be_bytes()[..],
    );
    let block_file_end = current.block_file_end + 4 + json.len() as u64;
    batch.insert(
        &keys::by_block(keys::COMMIT_HASH, number)[..],
        &hash.as_bytes()[..],
    );
    let next = Savepoint {
        height,
        commit_hash: hash,
        last_block_hash: block.hash(),
        block_file_end,
    };
    batch.insert(keys::SAVEPOINT, &next.encode()[..]);
    Ok((batch, next, json, indexed))
}

/// A block as the block file stores it — the [`Block`]'s JSON, its
/// commit hash set — serialized from borrows: a block holds every
/// envelope, and cloning it to set one field was a copy of all of them.
#[derive(Serialize)]
struct StoredBlock<'a> {
    header: &'a BlockHeader,
    data: &'a [Envelope],
    metadata: StoredMetadata<'a>,
}

/// [`weft_types::BlockMetadata`]'s fields, in its order, with the hash.
#[derive(Serialize)]
struct StoredMetadata<'a> {
    signatures: &'a [BlockSignature],
    validation_flags: &'a [ValidationCode],
    commit_hash: Digest,
}

impl<'a> StoredBlock<'a> {
    fn new(block: &'a Block, commit_hash: Digest) -> Self {
        StoredBlock {
            header: &block.header,
            data: &block.data,
            metadata: StoredMetadata {
                signatures: &block.metadata.signatures,
                validation_flags: &block.metadata.validation_flags,
                commit_hash,
            },
        }
    }
}

/// State, history and key policies of one valid transaction.
fn apply_tx(batch: &mut sled::Batch, number: u64, tx: &TxUpdates) {
    let version = weft_types::Version {
        block: number,
        tx: tx.index,
    };
    for w in &tx.writes {
        let state_key = keys::ns_key(keys::STATE, &w.ns, &w.key);
        match &w.value {
            Some(v) => batch.insert(state_key, records::encode_versioned(version, v)),
            None => batch.remove(state_key),
        }
        batch.insert(
            keys::history(&w.ns, &w.key, number, tx.index),
            records::encode_history(&tx.tx_id, tx.timestamp_ms, w.value.as_deref()),
        );
    }
    for p in &tx.policy_writes {
        let policy_key = keys::ns_key(keys::KEY_POLICY, &p.ns, &p.key);
        match &p.policy {
            Some(text) => batch.insert(policy_key, text.as_bytes()),
            None => batch.remove(policy_key),
        }
    }
    private::apply_tx(batch, version, tx);
}

/// A tx index entry for every transaction whose id is known: from the
/// updates, else from its envelope (one whose payload does not parse has no
/// id and is not indexed). An id seen before keeps its first entry unless
/// that one is invalid and this one valid, so the index points at the
/// occurrence that took effect. Returns the ids it indexes.
fn index_txs(
    tree: &sled::Tree,
    txs: &TxFilter,
    batch: &mut sled::Batch,
    block: &Block,
    updates: &BlockUpdates,
) -> Result<Vec<TxId>, LedgerError> {
    let number = block.number();
    let from_updates: HashMap<u32, TxId> = updates.txs.iter().map(|t| (t.index, t.tx_id)).collect();
    let mut in_block: HashMap<TxId, bool> = HashMap::new();
    for (i, envelope) in block.data.iter().enumerate() {
        let index = u32::try_from(i).map_err(|_| LedgerError::BadBlock {
            number,
            reason: "more than 2^32 transactions".into(),
        })?;
        let id = match from_updates.get(&index) {
            Some(id) => *id,
            None => match envelope.decode() {
                Ok(tx) => tx.header.tx_id,
                Err(_) => continue,
            },
        };
        let code = block.metadata.validation_flags[i];
        let earlier_valid = match in_block.get(&id) {
            Some(valid) => Some(*valid),
            None => reads::tx(tree, txs, &id)?.map(|(_, _, c)| c.is_valid()),
        };
        if earlier_valid.is_none_or(|valid| !valid && code.is_valid()) {
            batch.insert(
                &keys::tx(&id)[..],
                &records::encode_tx_location(number, index, code)[..],
            );
            in_block.insert(id, code.is_valid());
        }
    }
    Ok(in_block.into_keys().collect())
}

#[cfg(test)]
mod tests {
    use weft_tests::network::TestNetwork;

    use super::*;

    #[test]
    fn a_stored_block_is_the_blocks_json_with_its_commit_hash() {
        let net = TestNetwork::new(&["Org1"]);
        let mut block = net.genesis();
        block.metadata.validation_flags = vec![ValidationCode::Valid];
        let hash = weft_types::sha3_256(b"commit");
        let mut expected = block.clone();
        expected.metadata.commit_hash = Some(hash);
        let stored = serde_json::to_vec(&StoredBlock::new(&block, hash)).unwrap();
        assert_eq!(stored, serde_json::to_vec(&expected).unwrap());
        let back: Block = serde_json::from_slice(&stored).unwrap();
        assert_eq!(back, expected);
    }
}
