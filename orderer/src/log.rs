//! [`DurableLog`]: what the Raft loop writes, beside what raft-rs reads
//! through [`raft::Storage`].
//!
//! The Ready loop (see `consensus`) calls, in this order: [`apply_snapshot`]
//! for a snapshot in the `Ready`, [`append`] for its entries,
//! [`set_hard_state`] for its hard state, then [`sync`] — and only then
//! sends the `persisted_messages`. After `advance`, [`set_commit`] records
//! the commit index of the `LightReady`. [`compact`] is called by the state
//! machine once it has applied (stored) the blocks up to an index and
//! decides to snapshot.
//!
//! Implementations: `SledLog` (on disk, for the orderer) and `MemoryLog`
//! (for the simulated-network tests; a "crash" keeps only what was synced).
//!
//! [`apply_snapshot`]: DurableLog::apply_snapshot
//! [`append`]: DurableLog::append
//! [`set_hard_state`]: DurableLog::set_hard_state
//! [`sync`]: DurableLog::sync
//! [`set_commit`]: DurableLog::set_commit
//! [`compact`]: DurableLog::compact

use raft::Storage;
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};

/// A Raft log and its metadata that survive restarts.
pub trait DurableLog: Storage {
    /// Why a write failed. The node stops: raft-rs cannot go on after a
    /// storage failure.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Appends `entries` (consecutive indexes), first dropping every stored
    /// entry at or after `entries[0].index` (a new leader may overwrite an
    /// uncommitted suffix). Entries at or below the snapshot index are ignored.
    fn append(&mut self, entries: &[Entry]) -> Result<(), Self::Error>;

    /// Replaces the hard state (term, vote, commit).
    fn set_hard_state(&mut self, hard_state: &HardState) -> Result<(), Self::Error>;

    /// Sets the commit index of the hard state.
    fn set_commit(&mut self, commit: u64) -> Result<(), Self::Error>;

    /// Replaces the conf state (the voters).
    fn set_conf_state(&mut self, conf_state: &ConfState) -> Result<(), Self::Error>;

    /// Installs a snapshot received from the leader: drops every entry up
    /// to its index, records its metadata, conf state and data, and moves
    /// the hard state's commit to at least its index.
    fn apply_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Self::Error>;

    /// Makes every write so far durable (fsync) before persisted messages go out.
    fn sync(&mut self) -> Result<(), Self::Error>;

    /// Takes a snapshot at `index` (applied, at most the commit index) with
    /// `data` and the current conf state, and drops the entries up to it.
    fn compact(&mut self, index: u64, data: Vec<u8>) -> Result<(), Self::Error>;
}
