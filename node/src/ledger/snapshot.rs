//! [`Snapshot`]: committed state at one height, for simulations and the
//! validator.

use parking_lot::RawRwLock;
use parking_lot::lock_api::ArcRwLockReadGuard;
use weft_abi::{HistoryEntry, HostError};
use weft_chaincode::sim::StateView;
use weft_types::{Block, Digest, TxId, ValidationCode, Version};

use super::error::LedgerError;
use super::reads;
use super::records::Savepoint;

/// A consistent view of the ledger at one height. It holds the ledger's read
/// lock, so no block commits while it lives: every read sees the same height.
/// It is `'static` and `Send`, so it can move into a simulation thread.
///
/// **Keep it short-lived, and never take a second snapshot (or call a
/// [`Ledger`](super::Ledger) read) on a thread that holds one**: the lock is
/// fair, so once a commit is waiting, new readers wait behind it, and a
/// thread waiting for itself deadlocks. Simulations are bounded by fuel, so
/// a commit waits at most as long as the longest simulation running.
pub struct Snapshot {
    pub(crate) tree: sled::Tree,
    pub(crate) savepoint: ArcRwLockReadGuard<RawRwLock, Savepoint>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("height", &self.height())
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    /// Blocks committed: the number of the next block. The state is that
    /// after block `height - 1`.
    pub fn height(&self) -> u64 {
        self.savepoint.height
    }

    /// The commit hash after the last committed block (zero before genesis).
    pub fn commit_hash(&self) -> Digest {
        self.savepoint.commit_hash
    }

    /// The value and version of `(ns, key)`.
    pub fn get(&self, ns: &str, key: &str) -> Result<Option<(Vec<u8>, Version)>, LedgerError> {
        reads::get(&self.tree, ns, key)
    }

    /// Up to `limit` entries of `ns` with `start <= key < end` (`end` empty:
    /// unbounded), in key order.
    pub fn range(
        &self,
        ns: &str,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>, Version)>, LedgerError> {
        reads::range(&self.tree, ns, start, end, limit)
    }

    /// Every committed change of `(ns, key)`, oldest first.
    pub fn history(&self, ns: &str, key: &str) -> Result<Vec<HistoryEntry>, LedgerError> {
        reads::history(&self.tree, ns, key)
    }

    /// The key-level endorsement policy of `(ns, key)`, as text.
    pub fn key_policy(&self, ns: &str, key: &str) -> Result<Option<String>, LedgerError> {
        reads::key_policy(&self.tree, ns, key)
    }

    /// Where `tx_id` was recorded: block, index and validation code. When
    /// the id occurs more than once, the valid occurrence if there is one,
    /// else the first.
    pub fn tx(&self, tx_id: &TxId) -> Result<Option<(u64, u32, ValidationCode)>, LedgerError> {
        reads::tx(&self.tree, tx_id)
    }

    /// Block `number` as committed (validation flags and commit hash set).
    pub fn block(&self, number: u64) -> Result<Option<Block>, LedgerError> {
        reads::block(&self.tree, number)
    }
}

impl StateView for Snapshot {
    fn get(&self, ns: &str, key: &str) -> Result<Option<(Vec<u8>, Version)>, HostError> {
        Ok(Snapshot::get(self, ns, key)?)
    }

    fn range(
        &self,
        ns: &str,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>, Version)>, HostError> {
        Ok(Snapshot::range(self, ns, start, end, limit)?)
    }

    fn history(&self, ns: &str, key: &str) -> Result<Vec<HistoryEntry>, HostError> {
        Ok(Snapshot::history(self, ns, key)?)
    }

    fn private_get(
        &self,
        ns: &str,
        collection: &str,
        key: &str,
    ) -> Result<Option<(Vec<u8>, Version)>, HostError> {
        Ok(reads::private_get(&self.tree, ns, collection, key)?)
    }

    fn private_hash(
        &self,
        ns: &str,
        collection: &str,
        key: &str,
    ) -> Result<Option<([u8; 32], Version)>, HostError> {
        Ok(reads::private_hash(&self.tree, ns, collection, key)?)
    }

    fn key_policy(&self, ns: &str, key: &str) -> Result<Option<String>, HostError> {
        Ok(Snapshot::key_policy(self, ns, key)?)
    }
}
