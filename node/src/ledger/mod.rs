//! The peer's ledger on sled: blocks, the transaction index, world state
//! with versions, key history, key-level endorsement policies and the
//! commit-hash chain.
//!
//! Main types: [`Ledger`] (`open`, `commit`, reads), [`BlockUpdates`] (what
//! the committer hands over with a block: the writes of its valid
//! transactions), [`Snapshot`] (committed state at one height; implements
//! the simulator's [`StateView`](weft_chaincode::sim::StateView)) and
//! [`LedgerError`].
//!
//! **A block file, then one tree, one batch, one flush.** The blocks
//! themselves (megabytes of signatures and certificates) are appended to a
//! block file (`blocks.dat`, see `blockfile.rs`) and synced. Everything
//! else lives in one sled tree (`ledger`) under one-byte key prefixes
//! (layout in `keys.rs`), because a sled [`Batch`](sled::Batch) is atomic
//! only within one tree: a block's whole effect — its index entry (offset
//! in the block file), every tx index entry, state, history, key policies,
//! its commit hash and the savepoint — is one batch, then one flush.
//! Durability is paid once per block.
//!
//! **Crash semantics.** sled recovers a batch entirely or not at all (it
//! seals batches in its log), and recovers a prefix of the batches that
//! were applied. So after `kill -9` at any moment the ledger reopens at
//! some block `h` whose state, index, history and savepoint all agree: the
//! last flushed block, or a later one that sled had written out on its own.
//! Nothing from a later block is visible. Blocks are stored before their
//! state, so the block file may hold blocks past the savepoint: `open`
//! reads them back and cuts the file at the savepoint, and
//! [`Ledger::blocks_above_savepoint`] hands them to the committer, which
//! validates and commits them again (deterministically: same result). The
//! peer then asks the orderers for the blocks after those; it converges to
//! the same state and commit hash as its peers.
//!
//! **Consistency for readers.** A [`parking_lot::RwLock`] guards the
//! savepoint: `commit` applies its batch under the write lock, and a
//! [`Snapshot`] holds the read lock for its lifetime, so a simulation sees
//! one height from its first read to its last. The `Ledger`'s own read
//! methods each take a snapshot for the duration of one call.
//!
//! **Private data** (`private.rs`): every peer stores the hashes of private
//! writes (`X`, by key hash, with the write's version) — they are part of the
//! commit hash and what private reads are validated against. Members of a
//! collection also store the values (`V`) and each transaction's writes
//! (`D`, served to members that missed them); a member that lacked the data
//! at commit records what it owes (`O`) for the reconciler. Private writes
//! received before their transaction commits wait in the transient store
//! (`R`/`Q`), dropped when the transaction commits or after
//! [`TRANSIENT_RETENTION_BLOCKS`]. Block-to-live purges go through `E`.

mod blockfile;
mod commit;
mod commit_hash;
mod error;
mod keys;
mod private;
mod reads;
mod records;
mod snapshot;
#[cfg(test)]
mod tests;
mod tx_filter;
mod updates;

use std::path::Path;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use weft_abi::HistoryEntry;
use weft_types::{
    Block, ChaincodeDefinition, ChannelConfig, Digest, TxId, ValidationCode, Version,
};

pub use commit_hash::commit_hash;
pub use error::LedgerError;
pub use private::{PrivateValue, TRANSIENT_RETENTION_BLOCKS};
pub use snapshot::{LatestState, PrivateReader, Snapshot};
pub use updates::{
    BlockUpdates, OwedPrivateData, PolicyWrite, PrivateHashWrite, StateWrite, TxUpdates,
};

use blockfile::BlockFile;
use records::Savepoint;
use tx_filter::TxFilter;

/// The state namespace holding chaincode definitions: key = chaincode name,
/// value = the definition's JSON. Chaincode names start with a letter or a
/// digit, so no chaincode can own (or write) it.
pub const LIFECYCLE_NAMESPACE: &str = "_lifecycle";

/// The state namespace holding the channel configuration in force, under
/// [`CONFIG_KEY`], as JSON.
pub const CONFIG_NAMESPACE: &str = "_config";

/// The key of the channel configuration in [`CONFIG_NAMESPACE`].
pub const CONFIG_KEY: &str = "channel";

/// The name of the sled tree that holds the ledger.
const TREE: &str = "ledger";

/// A peer's ledger for one channel, in a sled directory.
pub struct Ledger {
    db: sled::Db,
    tree: sled::Tree,
    blocks: Arc<BlockFile>,
    /// Blocks found past the savepoint at open, until taken for replay.
    replay: Mutex<Vec<Block>>,
    savepoint: Arc<RwLock<Savepoint>>,
    /// The ids in the transaction index, for lookups of ids it lacks.
    txs: Arc<TxFilter>,
    commit_lock: Mutex<()>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("savepoint", &*self.savepoint.read())
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens (or creates) the ledger in `dir` and resumes at its savepoint.
    pub fn open(dir: impl AsRef<Path>) -> Result<Ledger, LedgerError> {
        let db = weft_types::node_config::open_waiting_for_lock(|| {
            sled::Config::new().path(dir.as_ref()).open()
        })?;
        let tree = db.open_tree(TREE)?;
        let savepoint = match tree.get(keys::SAVEPOINT)? {
            Some(raw) => Savepoint::decode(&raw)?,
            None => Savepoint::default(),
        };
        if let Some(last) = savepoint.height.checked_sub(1) {
            let chained = reads::commit_hash_at(&tree, last)?;
            if chained != Some(savepoint.commit_hash) {
                return Err(LedgerError::corrupt(
                    "savepoint",
                    format!("its commit hash is not the one recorded for block {last}"),
                ));
            }
        }
        let (blocks, tail) = BlockFile::open(dir.as_ref(), savepoint.block_file_end)?;
        // Only the blocks that follow the savepoint, in order, can replay.
        let replay: Vec<Block> = tail
            .into_iter()
            .zip(savepoint.height..)
            .take_while(|(block, n)| block.number() == *n)
            .map(|(block, _)| block)
            .collect();
        let txs = Arc::new(reads::tx_filter(&tree)?);
        if !replay.is_empty() {
            tracing::info!(
                height = savepoint.height,
                blocks = replay.len(),
                "blocks stored past the savepoint will be replayed"
            );
        }
        Ok(Ledger {
            db,
            tree,
            blocks: Arc::new(blocks),
            replay: Mutex::new(replay),
            savepoint: Arc::new(RwLock::new(savepoint)),
            txs,
            commit_lock: Mutex::new(()),
        })
    }

    /// A consistent view at the current height; no block commits while it
    /// lives. See [`Snapshot`] for how to use it without deadlocking.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            tree: self.tree.clone(),
            blocks: self.blocks.clone(),
            savepoint: self.savepoint.read_arc(),
            txs: self.txs.clone(),
            reader: None,
        }
    }

    /// Committed state without the snapshot lock (see [`LatestState`]).
    pub fn latest_state(&self) -> LatestState {
        LatestState {
            tree: self.tree.clone(),
            txs: self.txs.clone(),
        }
    }

    /// Blocks committed: the number of the next block expected (0 for an
    /// empty ledger). The savepoint: state is applied up to block `height - 1`.
    pub fn height(&self) -> u64 {
        self.savepoint.read().height
    }

    /// The commit hash after the last committed block (zero before genesis).
    pub fn commit_hash(&self) -> Digest {
        self.savepoint.read().commit_hash
    }

    /// The commit hash after block `number`, if it is committed.
    pub fn commit_hash_at(&self, number: u64) -> Result<Option<Digest>, LedgerError> {
        let _snapshot = self.snapshot();
        reads::commit_hash_at(&self.tree, number)
    }

    /// Block `number` as committed (validation flags and commit hash set).
    pub fn block(&self, number: u64) -> Result<Option<Block>, LedgerError> {
        self.snapshot().block(number)
    }

    /// Where `tx_id` was recorded: block, index and validation code. When
    /// the id occurs more than once, the valid occurrence if there is one,
    /// else the first.
    pub fn tx(&self, tx_id: &TxId) -> Result<Option<(u64, u32, ValidationCode)>, LedgerError> {
        self.snapshot().tx(tx_id)
    }

    /// The committed value and version of `(ns, key)`.
    pub fn get(&self, ns: &str, key: &str) -> Result<Option<(Vec<u8>, Version)>, LedgerError> {
        self.snapshot().get(ns, key)
    }

    /// Up to `limit` committed entries of `ns` with `start <= key < end`
    /// (`end` empty: unbounded; `start` empty: from the first key, composite
    /// keys included), in key order.
    pub fn range(
        &self,
        ns: &str,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>, Version)>, LedgerError> {
        self.snapshot().range(ns, start, end, limit)
    }

    /// Every committed change of `(ns, key)`, oldest first.
    pub fn history(&self, ns: &str, key: &str) -> Result<Vec<HistoryEntry>, LedgerError> {
        self.snapshot().history(ns, key)
    }

    /// The committed key-level endorsement policy of `(ns, key)`, as text.
    pub fn key_policy(&self, ns: &str, key: &str) -> Result<Option<String>, LedgerError> {
        self.snapshot().key_policy(ns, key)
    }

    /// The committed definition of `chaincode`.
    pub fn definition(&self, chaincode: &str) -> Result<Option<ChaincodeDefinition>, LedgerError> {
        self.snapshot().definition(chaincode)
    }

    /// Every committed chaincode definition, by name.
    pub fn definitions(&self) -> Result<Vec<ChaincodeDefinition>, LedgerError> {
        self.snapshot().definitions()
    }

    /// The module bytes with this sha3-256, if a committed definition brought them.
    pub fn module(&self, hash: &Digest) -> Result<Option<Vec<u8>>, LedgerError> {
        self.snapshot().module(hash)
    }

    /// The channel configuration committed last (by the genesis block or a
    /// configuration transaction); `None` before genesis.
    pub fn channel_config(&self) -> Result<Option<ChannelConfig>, LedgerError> {
        self.snapshot().channel_config()
    }

    /// The blocks found in the block file past the savepoint when the
    /// ledger was opened (a crash came between storing a block and
    /// committing its state), in order, starting at [`Ledger::height`].
    /// Hands them over once: the committer validates and commits them
    /// again; later calls return nothing.
    pub fn blocks_above_savepoint(&self) -> Vec<Block> {
        std::mem::take(&mut *self.replay.lock())
    }
}
