//! [`BlockUpdates`]: what the committer hands the ledger besides the block —
//! the writes of the block's valid transactions, in block order.

use weft_types::{Block, CollectionData, Digest, TxId};

use super::error::LedgerError;

/// The changes of one block's valid transactions, in block order. Built by
/// the committer from the rw-sets of the transactions the validator marked
/// `VALID`; the ledger checks that every entry points at a valid transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockUpdates {
    /// One entry per valid transaction that changes something, in block
    /// order (strictly increasing [`TxUpdates::index`]). A valid transaction
    /// that changes nothing may be left out or given an empty entry: both
    /// give the same state and commit hash.
    pub txs: Vec<TxUpdates>,
    /// Chaincode modules to store by their sha3-256, for the definitions
    /// the block's lifecycle transactions commit. Not part of the commit
    /// hash: the definition written to [`LIFECYCLE_NAMESPACE`](super::LIFECYCLE_NAMESPACE) names
    /// the module by hash, and that write is.
    pub modules: Vec<Vec<u8>>,
}

/// The changes of one valid transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxUpdates {
    /// Its id (indexed for this transaction instead of decoding its envelope).
    pub tx_id: TxId,
    /// Its index in the block.
    pub index: u32,
    /// Its creator's timestamp, unix milliseconds, recorded in key history.
    pub timestamp_ms: u64,
    /// State writes and deletes, applied in order (a later write of the same
    /// key wins, also across transactions).
    pub writes: Vec<StateWrite>,
    /// Key-level endorsement policy changes, applied in order.
    pub policy_writes: Vec<PolicyWrite>,
    /// Private writes as hashes: every peer stores these.
    pub private_hashes: Vec<PrivateHashWrite>,
    /// The private writes themselves, per collection, where this peer is a
    /// member and holds data matching the transaction's hashes. Not part of
    /// the commit hash (non-members do not have them).
    pub private_data: Vec<CollectionData>,
    /// Collections written whose private writes this peer should hold as a
    /// member but does not: recorded for the reconciler.
    pub private_missing: Vec<OwedPrivateData>,
}

impl TxUpdates {
    /// An entry with no changes yet.
    pub fn new(tx_id: TxId, index: u32, timestamp_ms: u64) -> Self {
        TxUpdates {
            tx_id,
            index,
            timestamp_ms,
            writes: Vec::new(),
            policy_writes: Vec::new(),
            private_hashes: Vec::new(),
            private_data: Vec::new(),
            private_missing: Vec::new(),
        }
    }

    /// Whether the transaction changes nothing.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.policy_writes.is_empty() && self.private_hashes.is_empty()
    }
}

/// One private write as every peer stores it: the key's and the value's hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateHashWrite {
    /// The chaincode namespace.
    pub ns: String,
    /// The collection.
    pub collection: String,
    /// sha3-256 of the key.
    pub key_hash: Digest,
    /// sha3-256 of the value; `None` deletes the key.
    pub value_hash: Option<Digest>,
    /// The block at which the value is purged (the collection's
    /// block-to-live); `None` keeps it.
    pub expires_at: Option<u64>,
}

/// Private writes a member peer lacks: the collection and the hash the
/// data must match when it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedPrivateData {
    /// The chaincode namespace.
    pub ns: String,
    /// The collection.
    pub collection: String,
    /// The transaction's `private_rwset_hash` for the collection.
    pub hash: Digest,
}

/// One write or delete of a public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateWrite {
    /// The chaincode namespace.
    pub ns: String,
    /// The key.
    pub key: String,
    /// The new value; `None` deletes the key.
    pub value: Option<Vec<u8>>,
}

/// One change of a key-level endorsement policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWrite {
    /// The chaincode namespace.
    pub ns: String,
    /// The key.
    pub key: String,
    /// The policy text; `None` removes the key's policy.
    pub policy: Option<String>,
}

impl BlockUpdates {
    /// No changes (e.g. the genesis block, or a block of invalid transactions).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Checks that the block has one flag per envelope and that every entry
    /// names a distinct valid transaction of the block, in order.
    pub(crate) fn check(&self, block: &Block) -> Result<(), LedgerError> {
        let number = block.number();
        let bad = |reason: String| Err(LedgerError::BadBlock { number, reason });
        let flags = &block.metadata.validation_flags;
        if flags.len() != block.data.len() {
            return bad(format!(
                "{} validation flags for {} transactions",
                flags.len(),
                block.data.len()
            ));
        }
        let mut previous: Option<u32> = None;
        for tx in &self.txs {
            if previous.is_some_and(|p| tx.index <= p) {
                return bad(format!(
                    "updates are not in block order (tx {} after tx {})",
                    tx.index,
                    previous.unwrap_or_default()
                ));
            }
            previous = Some(tx.index);
            match flags.get(tx.index as usize) {
                None => return bad(format!("updates for tx {}, past the block's end", tx.index)),
                Some(code) if !code.is_valid() => {
                    return bad(format!(
                        "updates for tx {}, which is marked {}",
                        tx.index,
                        code.name()
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}
