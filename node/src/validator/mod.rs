//! The peer's transaction validator: a core without I/O that turns a block
//! and the committed state before it into one [`ValidationCode`] per
//! transaction and the writes to apply.
//!
//! - [`validate_block`] runs both stages and returns a [`BlockValidation`].
//! - Stage 1, [`check_transactions`], checks each transaction on its own, in
//!   parallel: envelope, channel, creator, tx id, signatures (ed25519 batch
//!   verification per run of 32 transactions, by ZIP 215; the peer's own
//!   endorsements left out, and the org signature of certificates it
//!   verified in earlier blocks not checked again: [`ValidationMemory`]),
//!   the endorsed response and rw-set,
//!   endorsements, chaincode definition and endorsement policies; lifecycle
//!   and configuration approvals. Its result per transaction is a [`TxCheck`].
//! - Stage 2, [`check_mvcc`], goes through the block in order: duplicate tx
//!   ids, read conflicts, phantom reads, key-level policy and definition
//!   changes made earlier in the block.
//! - Committed state is read through [`CommittedState`], which the ledger
//!   implements; [`MemoryState`] is an in-memory one for tests.
//!
//! Certificates are checked against the block's timestamp, never the local
//! clock, so every peer reaches the same verdict whenever it validates.
//!
//! ```
//! use weft_node::validator::{MemoryState, validate_block};
//! use weft_types::{Block, ChannelConfig, Digest, OrgInfo, SigningKey};
//!
//! let org = OrgInfo { name: "A".into(), root_key: SigningKey::generate().public_key(), peers: vec![] };
//! let config = ChannelConfig::new("weft", vec![org], vec![]);
//! let block = Block::new(1, Digest::ZERO, 1_700_000_000_000, vec![]);
//! let verdict = validate_block(&config, &MemoryState::new(), &block).unwrap();
//! assert!(verdict.codes.is_empty());
//! ```

mod committed;
mod context;
mod endorsement_policy;
mod invoke;
mod lifecycle;
mod memory;
mod modules;
mod mvcc;
mod outcome;
mod rwset_check;
mod verified_here;
use weft_types::batch_verify as signatures;
mod stage1;

pub use committed::{CommittedState, MemoryState};
pub use memory::ValidationMemory;
pub use modules::{ModuleCheck, StaticModuleCheck};
pub use mvcc::check_mvcc;
pub use outcome::{
    BlockValidation, KeyPolicyUpdate, PrivateHashWrite, PrivateSet, StateWrite, TxAction, TxCheck,
    TxWrites,
};
pub use stage1::{check_transactions, check_transactions_with_digests};
pub use verified_here::{VERIFIED_HERE_GENERATION, VerifiedHere};

#[cfg(doc)]
use weft_types::ValidationCode;
use weft_types::{Block, ChannelConfig};

/// Validates `block` against `config` (the channel configuration in force)
/// and `state` (committed state as of the previous block): stage 1 in
/// parallel, then stage 2 in block order. Modules of lifecycle transactions
/// are checked by [`StaticModuleCheck`] with the default runtime limits; a
/// peer passes its runtime to [`validate_block_with`] instead, so a module
/// is compiled once, while its block is validated.
///
/// The result has one code and detail per envelope, the authenticated tx ids
/// to index, and the writes of the valid transactions. An error means the
/// committed state could not be read (see [`CommittedState`]); the block
/// must then not be committed.
pub fn validate_block<S: CommittedState + ?Sized>(
    config: &ChannelConfig,
    state: &S,
    block: &Block,
) -> Result<BlockValidation, S::Error> {
    validate_block_with(config, state, &StaticModuleCheck::default(), block)
}

/// [`validate_block`] with `modules` checking the modules of lifecycle
/// transactions. The check must be deterministic: every peer must accept
/// and refuse the same modules.
pub fn validate_block_with<S: CommittedState + ?Sized>(
    config: &ChannelConfig,
    state: &S,
    modules: &dyn ModuleCheck,
    block: &Block,
) -> Result<BlockValidation, S::Error> {
    let checks = check_transactions(config, state, modules, None, block)?;
    check_mvcc(state, block.number(), checks)
}
