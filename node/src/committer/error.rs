//! [`CommitError`]: why a block was not committed.

use weft_types::{BlockError, Digest};

use crate::ledger::LedgerError;

/// Why the committer refused or failed a block. Every refusal leaves the
/// ledger as it was.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The block is already committed (a deliver stream resent it): nothing to do.
    #[error("block {number} is already committed (the ledger is at height {height})")]
    AlreadyCommitted {
        /// The block offered.
        number: u64,
        /// Blocks committed.
        height: u64,
    },
    /// The block is ahead of the ledger: the blocks before it are missing.
    #[error("block {number} is ahead of the ledger: block {height} comes first")]
    OutOfOrder {
        /// The block offered.
        number: u64,
        /// Blocks committed (the number expected).
        height: u64,
    },
    /// The block is not one the ordering service made: signatures, data
    /// hash, chaining or time.
    #[error("block refused: {0}")]
    Block(#[from] BlockError),
    /// The genesis block given is not a genesis block.
    #[error("not a genesis block: {0}")]
    BadGenesis(String),
    /// The ledger was started from another genesis block (another channel
    /// or network).
    #[error(
        "the ledger belongs to another channel: its genesis block is {ledger}, the one given is {given}"
    )]
    GenesisMismatch {
        /// Hash of the ledger's block 0.
        ledger: Digest,
        /// Hash of the genesis block given.
        given: Digest,
    },
    /// The ledger refused the block or could not be read or written.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The ledger or the validation result contradicts itself (a bug or a
    /// damaged ledger).
    #[error("inconsistent state: {0}")]
    Inconsistent(String),
}
