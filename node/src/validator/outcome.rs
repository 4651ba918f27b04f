//! What validation hands over: per-transaction results of stage 1
//! ([`TxCheck`]) and of the whole block ([`BlockValidation`]).

use weft_types::{
    Bytes, ChaincodeDefinition, ChaincodeEvent, ChannelConfig, Digest, Policy, RwSet, TxId,
    ValidationCode,
};

/// The outcome of stage 1 (checks that need no other transaction) for one
/// transaction, and what stage 2 needs to finish it.
#[derive(Debug, Clone)]
pub struct TxCheck {
    /// `Valid` if every stage-1 check passed; otherwise the first failure.
    pub code: ValidationCode,
    /// Why, in words, when the code is not `Valid`.
    pub detail: Option<String>,
    /// The tx id, once the creator's certificate, the id and the creator's
    /// signature have been verified. Only such authenticated ids take part in
    /// the duplicate check: nobody can get another creator's transaction
    /// refused as a duplicate by putting its id in a forged envelope.
    pub tx_id: Option<TxId>,
    /// What the transaction does, for stage 2; `None` when stage 1 failed.
    pub action: Option<TxAction>,
    /// The creator's timestamp from the transaction header, unix
    /// milliseconds (0 when the header could not be read); key history
    /// records it.
    pub timestamp_ms: u64,
}

impl TxCheck {
    /// A stage-1 failure.
    pub(crate) fn fail(code: ValidationCode, detail: impl Into<String>) -> Self {
        TxCheck {
            code,
            detail: Some(detail.into()),
            tx_id: None,
            action: None,
            timestamp_ms: 0,
        }
    }

    /// A transaction that passed stage 1.
    pub fn passed(tx_id: TxId, action: TxAction) -> Self {
        TxCheck {
            code: ValidationCode::Valid,
            detail: None,
            tx_id: Some(tx_id),
            action: Some(action),
            timestamp_ms: 0,
        }
    }
}

/// What a transaction that passed stage 1 does.
#[derive(Debug, Clone)]
pub enum TxAction {
    /// A chaincode invocation with its parsed read/write set.
    Invoke {
        /// The chaincode the proposal invoked.
        chaincode: String,
        /// Every namespace's reads, ranges and writes.
        rwset: RwSet,
        /// The event the endorsers signed, published if the transaction is valid.
        event: Option<ChaincodeEvent>,
    },
    /// A new or upgraded chaincode definition, with its module.
    Lifecycle {
        /// The definition.
        definition: ChaincodeDefinition,
        /// The module bytes (their hash is the definition's `module_hash`).
        module: Bytes,
    },
    /// A new channel configuration.
    Config(ChannelConfig),
}

/// One key to set or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateWrite {
    /// The chaincode namespace.
    pub namespace: String,
    /// The key.
    pub key: String,
    /// The new value; `None` deletes the key.
    pub value: Option<Bytes>,
}

/// A key-level endorsement policy to set or remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPolicyUpdate {
    /// The chaincode namespace.
    pub namespace: String,
    /// The key.
    pub key: String,
    /// The new policy; `None` removes it (the chaincode's policy applies again).
    pub policy: Option<Policy>,
}

/// A private write as every peer stores it: hashes only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateHashWrite {
    /// The chaincode namespace.
    pub namespace: String,
    /// The collection.
    pub collection: String,
    /// sha3-256 of the key.
    pub key_hash: Digest,
    /// sha3-256 of the value; `None` deletes the key.
    pub value_hash: Option<Digest>,
}

/// A collection a valid transaction writes, with the hash of its private
/// writes: member peers store the writes they hold when they match it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateSet {
    /// The chaincode namespace.
    pub namespace: String,
    /// The collection.
    pub collection: String,
    /// The rw-set's `private_rwset_hash`.
    pub hash: Digest,
}

/// What one valid transaction changes. Values are written at version
/// `(block number, tx)`.
#[derive(Debug, Clone, Default)]
pub struct TxWrites {
    /// The transaction's index in the block.
    pub tx: u32,
    /// The creator's timestamp, unix milliseconds.
    pub timestamp_ms: u64,
    /// Writes and deletes, namespace by namespace in key order.
    pub writes: Vec<StateWrite>,
    /// Key-level policy changes.
    pub key_policies: Vec<KeyPolicyUpdate>,
    /// Private writes, as hashes, collection by collection in key-hash order.
    pub private_hashes: Vec<PrivateHashWrite>,
    /// The collections written, with the hash of their private writes.
    pub private_sets: Vec<PrivateSet>,
    /// The chaincode invoked, for an invocation.
    pub chaincode: Option<String>,
    /// The event the invoked chaincode set, for an invocation.
    pub event: Option<ChaincodeEvent>,
    /// A chaincode definition to commit (lifecycle transaction).
    pub definition: Option<ChaincodeDefinition>,
    /// The module of [`TxWrites::definition`].
    pub module: Option<Bytes>,
    /// The channel configuration that takes effect after this block.
    pub config: Option<ChannelConfig>,
}

/// The verdict on a block.
#[derive(Debug, Clone, Default)]
pub struct BlockValidation {
    /// One code per envelope, in block order.
    pub codes: Vec<ValidationCode>,
    /// Why each invalid transaction is invalid, in words; `None` for valid ones.
    pub details: Vec<Option<String>>,
    /// The authenticated tx id of each envelope (see [`TxCheck::tx_id`]):
    /// the ledger indexes these, valid or not, so a replay is a duplicate.
    pub tx_ids: Vec<Option<TxId>>,
    /// The changes of the valid transactions, in block order.
    pub valid_writes: Vec<TxWrites>,
}
