//! [`LedgerError`]: what can go wrong opening, committing to or reading the ledger.

use weft_abi::{ErrorCode, HostError};

/// Why a ledger operation failed.
///
/// [`LedgerError::Storage`] and [`LedgerError::Corrupt`] mean the store
/// cannot be trusted: a peer should stop and be restarted (it resumes at its
/// savepoint). The other variants refuse one block and change nothing.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// sled failed (I/O, or its own files are damaged).
    #[error("ledger storage error: {0}")]
    Storage(#[from] sled::Error),
    /// The block file could not be read or written.
    #[error("block file error: {0}")]
    BlockFile(#[from] std::io::Error),
    /// A stored record does not decode: the files were damaged or written by
    /// an incompatible version.
    #[error("corrupt ledger record ({what}): {reason}")]
    Corrupt {
        /// Which record kind.
        what: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// The block is not the next one: the ledger commits blocks strictly in order.
    #[error("block {number} refused: the ledger is at height {height} and expects block {height}")]
    OutOfOrder {
        /// The block offered.
        number: u64,
        /// Blocks committed so far (the number of the block expected next).
        height: u64,
    },
    /// The block's previous hash is not the hash of the last committed block's header.
    #[error(
        "block {number} refused: its previous hash {claimed} is not the hash {expected} of block {}'s header",
        number.saturating_sub(1)
    )]
    BrokenChain {
        /// The block offered.
        number: u64,
        /// Its previous hash.
        claimed: weft_types::Digest,
        /// The hash of the last committed header (zero before genesis).
        expected: weft_types::Digest,
    },
    /// The block's validation flags or the updates do not match the block.
    #[error("block {number} refused: {reason}")]
    BadBlock {
        /// The block offered.
        number: u64,
        /// What does not match (flags count, an update for an invalid tx, …).
        reason: String,
    },
}

impl LedgerError {
    pub(crate) fn corrupt(what: &'static str, reason: impl Into<String>) -> Self {
        LedgerError::Corrupt {
            what,
            reason: reason.into(),
        }
    }
}

impl From<LedgerError> for HostError {
    /// Ledger failures reach chaincode as `Internal`: the call fails, and
    /// nothing about it depends on the chaincode.
    fn from(e: LedgerError) -> Self {
        HostError::new(ErrorCode::Internal, e.to_string())
    }
}
